"""The writer: drafts a markdown report from an analysis, and revises a draft given a critique.

Both skills stream the report as the model writes it (InvokeStream).
"""

from __future__ import annotations

import json
import re

from agentmesh import Agent, Context, Prompt, Reply
from agentmesh_services import default_port
from agentmesh_services._text import word_count
from agentmesh_services.writer import offline
from agentmesh_services.writer.models import DraftInput, Report, ReviseInput

agent = Agent(
    "writer",
    description="Drafts a markdown report from an analysis and revises drafts from a critique.",
    version="1.0.0",
    default_port=default_port("writer"),
)

SYSTEM = (
    "You are a clear, precise writer. You write well-structured markdown reports: a level-one title, "
    "a summary, sections with '##' headings, and a conclusion. Answer with the markdown only."
)


EXAMPLE_ANALYSIS = {
    "topic": "Open source in schools",
    "themes": [{"name": "Costs", "summary": "Licences cost nothing.", "evidence": ["No fees."]}],
    "key_points": ["Schools save on licences."],
    "summary": "Open source saves schools money.",
    "confidence": 0.8,
}
EXAMPLE_CRITIQUE = {"score": 0.5, "approved": False, "summary": "Needs a conclusion."}


@agent.skill(
    "draft",
    "Draft a markdown report.",
    input=DraftInput,
    output=Report,
    streams=True,
    examples=[{"topic": "Open source in schools", "analysis": EXAMPLE_ANALYSIS}],
)
async def draft(data: DraftInput, ctx: Context) -> Reply:
    prompt = Prompt(
        system=SYSTEM,
        user=(
            f"Write a report on '{data.topic}' for {data.audience} from this analysis:\n"
            f"{data.analysis.model_dump_json()}"
        ),
        data=data.model_dump(),
    )
    generation = await ctx.generate(prompt)
    return _reply(generation.text, revision=0)


@agent.skill(
    "revise",
    "Revise a report to address a critique.",
    input=ReviseInput,
    output=Report,
    streams=True,
    examples=[{"draft": "# Open source in schools\n\nSchools save.", "critique": EXAMPLE_CRITIQUE}],
)
async def revise(data: ReviseInput, ctx: Context) -> Reply:
    critique = data.critique.model_dump()
    prompt = Prompt(
        system=SYSTEM,
        user=(
            f"Revise this report so that it addresses every point of the critique.\n\nCritique:\n"
            f"{json.dumps(critique, ensure_ascii=False)}\n\nReport:\n{data.markdown}"
        ),
        data={"draft": data.markdown, "critique": critique, "topic": data.topic},
    )
    generation = await ctx.generate(prompt)
    previous = 0 if isinstance(data.draft, str) else data.draft.revision
    return _reply(generation.text, revision=previous + 1)


def _reply(markdown: str, *, revision: int) -> Reply:
    title = next((line[2:].strip() for line in markdown.splitlines() if line.startswith("# ")), "Report")
    sections = re.findall(r"^##\s+(.+?)\s*$", markdown, flags=re.MULTILINE)
    report = Report(
        title=title, markdown=markdown, word_count=word_count(markdown), sections=sections, revision=revision
    )
    return Reply(text=markdown, data=report)


agent.offline("draft")(offline.draft)
agent.offline("revise")(offline.revise)
