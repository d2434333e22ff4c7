"""The researcher: plans the subtopics of a topic, then researches one subtopic into findings."""

from __future__ import annotations

import json

from agentmesh import Agent, Context, Prompt, Reply
from agentmesh_services import default_port
from agentmesh_services.researcher import offline
from agentmesh_services.researcher.models import Plan, PlanInput, Research, ResearchInput, Subtopic

agent = Agent(
    "researcher",
    description="Plans the subtopics worth researching for a topic and researches each one into findings.",
    version="1.0.0",
    default_port=default_port("researcher"),
)

SYSTEM = (
    "You are a meticulous research assistant. You break topics into distinct, answerable subtopics "
    "and report findings with an honest confidence between 0 and 1."
)


@agent.skill(
    "plan",
    "Plan up to max_subtopics subtopics for a topic.",
    input=PlanInput,
    output=Plan,
    examples=[{"topic": "Benefits of open source", "depth": "quick", "max_subtopics": 2}],
)
async def plan(data: PlanInput, ctx: Context) -> Reply:
    prompt = Prompt(
        system=SYSTEM,
        user=(
            f"Plan a {data.depth} research of the topic: {data.topic}\n"
            f"Give at most {data.max_subtopics} distinct subtopics, each with a title, the question it "
            "answers, and a few keywords."
        ),
        data=data.model_dump(),
    )
    answer = await ctx.generate_json(prompt, Plan)
    result = Plan(topic=data.topic, depth=data.depth, subtopics=answer.subtopics[: data.max_subtopics])
    lines = [f"Research plan for **{result.topic}** ({result.depth}):"]
    lines += [f"{i}. {s.title}: {s.question}" for i, s in enumerate(result.subtopics, 1)]
    return Reply(text="\n".join(lines), data=result)


@agent.skill(
    "research",
    "Research one subtopic into findings.",
    input=ResearchInput,
    output=Research,
    examples=[{"subtopic": "Licence costs", "topic": "Open source in schools", "depth": "quick"}],
)
async def research(data: ResearchInput, ctx: Context) -> Reply:
    subtopic = data.subtopic
    if not isinstance(subtopic, Subtopic):  # only its title: the question is the obvious one
        subtopic = Subtopic(title=subtopic, question=f"What matters most about {subtopic}?")
    prompt = Prompt(
        system=SYSTEM,
        user=(
            f"Research this subtopic of '{data.topic or subtopic.title}' at {data.depth} depth:\n"
            f"{json.dumps(subtopic.model_dump())}\n"
            "Report findings (claim, detail, confidence) and a one-sentence summary."
        ),
        data=data.model_dump(),
    )
    result = await ctx.generate_json(prompt, Research)
    lines = [f"**{result.subtopic}**: {result.summary}"]
    lines += [f"- {f.claim} (confidence {f.confidence:.2f})" for f in result.findings]
    return Reply(text="\n".join(lines), data=result)


agent.offline("plan")(offline.plan)
agent.offline("research")(offline.research)
