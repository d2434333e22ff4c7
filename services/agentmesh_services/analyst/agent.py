"""The analyst: synthesises research findings into themes and key points."""

from __future__ import annotations

import json

from agentmesh import Agent, Context, Prompt, Reply
from agentmesh_services import default_port
from agentmesh_services.analyst import offline
from agentmesh_services.analyst.models import Analysis, AnalyzeInput

agent = Agent(
    "analyst",
    description="Synthesises research findings into themes, key points and a summary.",
    version="1.0.0",
    default_port=default_port("analyst"),
)


@agent.skill(
    "analyze",
    "Synthesise findings into themes and key points.",
    input=AnalyzeInput,
    output=Analysis,
    examples=[
        {"topic": "Open source in schools", "findings": ["Licences cost nothing.", "Teachers need training."]}
    ],
)
async def analyze(data: AnalyzeInput, ctx: Context) -> Reply:
    notes = [n if isinstance(n, str) else n.model_dump() for n in data.findings]
    prompt = Prompt(
        system="You are an analyst. You find the themes that connect findings and rank what matters most.",
        user=(
            f"Topic: {data.topic}\nFindings:\n{json.dumps(notes, ensure_ascii=False)}\n"
            "Group them into themes (name, summary, evidence), list up to five key points, "
            "write a summary, and rate your overall confidence from 0 to 1."
        ),
        data={"topic": data.topic, "findings": notes},
    )
    result = await ctx.generate_json(prompt, Analysis)
    lines = [f"Analysis of **{result.topic}**: {result.summary}", "", "Key points:"]
    lines += [f"- {point}" for point in result.key_points]
    return Reply(text="\n".join(lines), data=result)


agent.offline("analyze")(offline.analyze)
