"""`agentmesh demo`: one agent started as its own process, asked to plan and research, then stopped."""

from __future__ import annotations

import grpc
from rich.console import Console
from rich.table import Table

from agentmesh.health import wait_serving
from agentmesh.messages import Message
from agentmesh.process import ServerProcess
from agentmesh.v1 import agent_service_pb2 as pb
from agentmesh.v1 import agent_service_pb2_grpc as pb_grpc

console = Console()


async def run_demo(topic: str) -> int:
    agent = ServerProcess.agent("researcher")
    with console.status("starting the researcher agent…"):
        port = await agent.start()
        target = f"127.0.0.1:{port}"
        await wait_serving(target)
    console.print(f"[green]✓[/] researcher is SERVING on {target} (pid {agent.pid})")
    try:
        async with grpc.aio.insecure_channel(target) as channel:
            await _converse(pb_grpc.AgentServiceStub(channel), topic)
    finally:
        code = await agent.stop()
    console.print(f"[green]✓[/] researcher stopped gracefully (exit code {code})")
    return 0 if code == 0 else 1


async def _converse(stub: pb_grpc.AgentServiceAsyncStub, topic: str) -> None:
    card = (await stub.GetAgentCard(pb.GetAgentCardRequest())).card
    console.print(f"\n[bold]{card.name}[/] {card.version}: {card.description}")
    console.print(f"skills: {', '.join(s.id for s in card.skills)}; thinks with: {card.llm_provider}\n")

    request = Message.request({"topic": topic, "depth": "quick", "max_subtopics": 3}, sender="demo")
    planned = await stub.Invoke(pb.InvokeRequest(skill="plan", message=request.to_proto()), timeout=30)
    plan = Message.from_proto(planned.message)
    table = Table(title=f"Plan for “{topic}”")
    table.add_column("#", justify="right")
    table.add_column("subtopic")
    table.add_column("question")
    for i, subtopic in enumerate(plan.data["subtopics"], 1):
        table.add_row(str(i), subtopic["title"], subtopic["question"])
    console.print(table)
    console.print(f"tokens: {planned.usage.total_tokens} via {plan.metadata.get('llm_provider')}\n")

    first = plan.data["subtopics"][0]
    asked = Message.request({"subtopic": first, "topic": topic, "depth": "quick"}, sender="demo")
    researched = await stub.Invoke(pb.InvokeRequest(skill="research", message=asked.to_proto()), timeout=30)
    console.print(Message.from_proto(researched.message).text)
    console.print(f"tokens: {researched.usage.total_tokens}\n")
