"""The trend scanner: platform, topic and date range in, ranked trends out."""

from __future__ import annotations

from agentmesh import Agent, Context, Prompt, Reply
from agentmesh_services import default_port
from agentmesh_services.trend_scanner import offline
from agentmesh_services.trend_scanner.models import ScanInput, Trends

agent = Agent(
    "trend-scanner",
    description="Finds what is trending about a topic on a social platform over a date range.",
    version="1.0.0",
    default_port=default_port("trend-scanner"),
)


@agent.skill(
    "scan",
    "Rank the current trends for a topic on a platform.",
    input=ScanInput,
    output=Trends,
    examples=[{"platform": "tiktok", "topic": "robots", "date_range": "last_7_days"}],
)
async def scan(data: ScanInput, ctx: Context) -> Reply:
    prompt = Prompt(
        system="You are a social media analyst who spots rising content trends early.",
        user=(
            f"List the top {data.limit} trends about '{data.topic}' on {data.platform} over "
            f"{data.date_range.replace('_', ' ')}, ranked, each with a hashtag, a 0-100 score, "
            "growth in percent and a one-line description."
        ),
        data=data.model_dump(),
    )
    answer = await ctx.generate_json(prompt, Trends)
    result = answer.model_copy(
        update={
            "platform": data.platform,
            "topic": data.topic,
            "date_range": data.date_range,
            "trends": answer.trends[: data.limit],
        }
    )
    lines = [f"Top trends for **{data.topic}** on {data.platform} ({data.date_range.replace('_', ' ')}):"]
    lines += [
        f"{t.rank}. {t.name} {t.hashtag}: score {t.score:g}, +{t.growth_percent:g}%" for t in result.trends
    ]
    return Reply(text="\n".join(lines), data=result)


agent.offline("scan")(offline.scan)
