"""The agent the benchmarks call: no-op, sleep for N ms, emit N chunks. Not one of the product's agents."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from agentmesh import Agent, Context, Reply

agent = Agent("bench", description="Benchmark probe: noop, sleep, chunks.")


class Noop(BaseModel):
    n: int = 0


class Sleep(BaseModel):
    ms: int = 100


class Chunks(BaseModel):
    n: int = 100


@agent.skill("noop", "Answer at once.", input=Noop)
async def noop(data: Noop, ctx: Context) -> Reply:
    return Reply(data={"n": data.n})


@agent.skill("sleep", "Answer after `ms` milliseconds.", input=Sleep)
async def sleep(data: Sleep, ctx: Context) -> Reply:
    await asyncio.sleep(data.ms / 1000)
    return Reply(data={"slept_ms": data.ms})


@agent.skill("chunks", "Stream `n` chunks.", input=Chunks, streams=True)
async def chunks(data: Chunks, ctx: Context) -> Reply:
    for i in range(data.n):
        await ctx.emit(f"{i} ")
    return Reply(data={"n": data.n})


if __name__ == "__main__":
    agent.run()
