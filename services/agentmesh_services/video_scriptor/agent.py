"""The video scriptor: format, objective and trends in, a short-video script out."""

from __future__ import annotations

import json

from agentmesh import Agent, Context, Prompt, Reply
from agentmesh_services import default_port
from agentmesh_services.video_scriptor import offline
from agentmesh_services.video_scriptor.models import Script, ScriptInput

agent = Agent(
    "video-scriptor",
    description="Writes short-video scripts (hook, scenes, call to action) that ride current trends.",
    version="1.0.0",
    default_port=default_port("video-scriptor"),
)


@agent.skill(
    "script",
    "Write a short-video script.",
    input=ScriptInput,
    output=Script,
    examples=[
        {"format": "unboxing", "objective": "product_launch", "trends": [{"name": "gadget first look"}]}
    ],
)
async def script(data: ScriptInput, ctx: Context) -> Reply:
    trends = [t if isinstance(t, str) else t.model_dump() for t in data.trends]
    prompt = Prompt(
        system="You write short, punchy scripts for vertical video that hook viewers in the first second.",
        user=(
            f"Write a {data.duration_seconds}-second {data.format} script for {data.platform} with objective "
            f"is {data.objective}. Topic: {data.topic or 'as the trends suggest'}. Trends to ride: "
            f"{json.dumps(trends, ensure_ascii=False)}. Give a hook, numbered scenes with durations, "
            "a call to action and hashtags."
        ),
        data={**data.model_dump(), "trends": trends},
    )
    result = await ctx.generate_json(prompt, Script)
    lines = [f"**{result.title}** ({result.duration_seconds}s, {result.platform})", f"Hook: {result.hook}"]
    lines += [f"{s.number}. [{s.duration_seconds}s] {s.visual}: {s.narration}" for s in result.scenes]
    lines.append(f"CTA: {result.call_to_action} {' '.join(result.hashtags)}")
    return Reply(text="\n".join(lines), data=result)


agent.offline("script")(offline.script)
