"""The critic: scores a report from 0 to 1, approves it or not, and lists concrete feedback."""

from __future__ import annotations

from agentmesh import Agent, Context, Prompt, Reply
from agentmesh_services import default_port
from agentmesh_services.critic import offline
from agentmesh_services.critic.models import Review, ReviewInput

agent = Agent(
    "critic",
    description="Reviews a report: a score from 0 to 1, approval against a threshold, concrete feedback.",
    version="1.0.0",
    default_port=default_port("critic"),
)


@agent.skill(
    "review",
    "Score a report and list what to improve.",
    input=ReviewInput,
    output=Review,
    examples=[{"report": "# Open source in schools\n\nSchools save on licences.", "topic": "Open source"}],
)
async def review(data: ReviewInput, ctx: Context) -> Reply:
    prompt = Prompt(
        system="You are a demanding editor. You judge reports on structure, evidence, clarity and coverage.",
        user=(
            f"Review this report{f' on {data.topic}' if data.topic else ''}. Score it from 0 to 1, list "
            f"concrete feedback (aspect, comment, severity) and its strengths.\n\n{data.markdown}"
        ),
        data={"report": data.markdown, "topic": data.topic, "threshold": data.threshold},
    )
    answer = await ctx.generate_json(prompt, Review)
    # Approval follows from the score and the caller's threshold, not from the model's say-so.
    result = answer.model_copy(update={"approved": answer.score >= data.threshold})
    verdict = "approved" if result.approved else "needs revision"
    lines = [f"Score {result.score:.2f}: {verdict}. {result.summary}"]
    lines += [f"- [{f.severity}] {f.aspect}: {f.comment}" for f in result.feedback]
    return Reply(text="\n".join(lines), data=result)


agent.offline("review")(offline.review)
