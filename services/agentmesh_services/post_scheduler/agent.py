"""The post scheduler: platforms and a script in, a schedule of posts with ISO timestamps out.

When to post is computed, not generated: each platform has a habitual peak hour and
a model is no clock. The model writes the captions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from agentmesh import Agent, Context, Prompt, Reply
from agentmesh_services import default_port
from agentmesh_services.post_scheduler import offline
from agentmesh_services.post_scheduler.models import Captions, Post, Schedule, ScheduleInput, ScriptRef

agent = Agent(
    "post-scheduler",
    description="Plans when and with which caption a script is posted on each platform.",
    version="1.0.0",
    default_port=default_port("post-scheduler"),
)

# Local hour at which each platform's audience is habitually most active.
PEAK_HOUR = {"tiktok": 19, "instagram": 11, "youtube": 15, "x": 9, "linkedin": 8, "facebook": 13}


@agent.skill(
    "schedule",
    "Schedule posts of a script across platforms.",
    input=ScheduleInput,
    output=Schedule,
    examples=[
        {
            "platforms": ["tiktok", "instagram"],
            "script": {
                "title": "Robots at home",
                "hook": "Meet your new helper.",
                "call_to_action": "Follow!",
            },
        }
    ],
)
async def schedule(data: ScheduleInput, ctx: Context) -> Reply:
    script = data.script if isinstance(data.script, ScriptRef) else ScriptRef(title=data.script)
    platforms = list(dict.fromkeys(data.platforms))
    prompt = Prompt(
        system="You write platform-native captions for short videos.",
        user=(
            f"Write one caption for each of {', '.join(platforms)} for the video '{script.title}' "
            f"(hook: {script.hook}; call to action: {script.call_to_action}). Answer as "
            '{"captions": {"<platform>": "<caption>"}}.'
        ),
        data={"platforms": platforms, "script": script.model_dump()},
    )
    captions = (await ctx.generate_json(prompt, Captions)).captions
    zone = ZoneInfo(data.timezone)
    start = _localize(data.start, zone) if data.start else datetime.now(UTC).astimezone(zone)
    posts = [
        Post(
            platform=platform,
            scheduled_time=_next_peak(start, PEAK_HOUR[platform], day).isoformat(),
            caption=captions.get(platform, script.title),
            hashtags=script.hashtags,
        )
        for platform in platforms
        for day in range(data.posts_per_platform)
    ]
    posts.sort(key=lambda p: datetime.fromisoformat(p.scheduled_time))
    result = Schedule(timezone=data.timezone, posts=posts)
    lines = [f"{len(posts)} posts scheduled ({data.timezone}):"]
    lines += [f"- {p.scheduled_time} {p.platform}: {p.caption[:60]}" for p in posts]
    return Reply(text="\n".join(lines), data=result)


def _localize(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)


def _next_peak(start: datetime, hour: int, extra_days: int) -> datetime:
    """The first `hour`:00 strictly after `start`, plus `extra_days` days."""
    slot = start.replace(hour=hour, minute=0, second=0, microsecond=0)
    if slot <= start:
        slot += timedelta(days=1)
    return slot + timedelta(days=extra_days)


agent.offline("schedule")(offline.captions)
