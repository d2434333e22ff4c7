"""An agent whose skill asks for input before it answers, written as the README shows: the
conformance kit's multi-turn check runs against it."""

from __future__ import annotations

from pydantic import BaseModel, Field

from agentmesh import Agent, Ask, Context, Reply

agent = Agent("trip-planner", description="Plans a trip, asking for the budget first.")


class Trip(BaseModel):
    destination: str = Field(min_length=1)


class Budget(BaseModel):
    euros: int = Field(ge=1, examples=[800])


class Plan(BaseModel):
    destination: str
    euros: int


@agent.skill(
    "plan",
    "Plan a trip; asks for the budget.",
    input=Trip,
    output=Plan,
    examples=[{"destination": "Lisbon"}],
    asks_for_input=True,
)
async def plan(data: Trip, ctx: Context) -> Reply | Ask:
    if ctx.answer is None:
        return Ask(f"What is your budget for {data.destination}, in euros?", schema=Budget)
    budget = ctx.answer_as(Budget)
    return Reply(
        text=f"{data.destination} on {budget.euros} EUR",
        data=Plan(destination=data.destination, euros=budget.euros),
    )


if __name__ == "__main__":
    agent.run()
