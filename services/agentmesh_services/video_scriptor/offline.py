"""How the offline provider answers the video scriptor: a hook, timed scenes and a call to action."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentmesh_services._text import hashtag

_CTA = {
    "product_launch": "Tap the link to be first in line for the launch.",
    "awareness": "Follow for more, and share this with someone who needs it.",
    "engagement": "Tell us in the comments which one you'd pick.",
    "sales": "Order today through the link in bio.",
}


def script(data: Mapping[str, Any]) -> dict[str, Any]:
    fmt = str(data["format"]).replace("_", " ")
    objective = str(data["objective"])
    trends = [t if isinstance(t, str) else t["name"] for t in data.get("trends", [])]
    tags = [t["hashtag"] for t in data.get("trends", []) if isinstance(t, Mapping) and t.get("hashtag")]
    subject = str(data.get("topic") or (trends[0] if trends else fmt))
    duration = int(data.get("duration_seconds", 60))
    beats = [
        ("Close-up of the product in its box", f"Everyone is talking about {subject}. Here's why."),
        (f"The {fmt} itself, one step at a time", f"This is the {fmt} moment: watch what happens."),
        ("Reaction shot, then the detail that matters", f"The part nobody mentions about {subject}."),
    ]
    beats += [(f"Nod to the trend: {t}", f"And yes, it fits the {t} trend.") for t in trends[1:3]]
    hook_len = max(3, duration // 10)
    per_scene = max(1, (duration - hook_len) // len(beats))
    scenes = [
        {
            "number": i,
            "duration_seconds": per_scene,
            "visual": visual,
            "narration": narration,
            "on_screen_text": narration.split(".")[0][:40],
        }
        for i, (visual, narration) in enumerate(beats, 1)
    ]
    return {
        "title": f"{subject.capitalize()}: {fmt} for {objective.replace('_', ' ')}",
        "format": str(data["format"]),
        "objective": objective,
        "platform": str(data.get("platform", "tiktok")),
        "hook": f"Stop scrolling: this {fmt} of {subject} is not what you expect.",
        "scenes": scenes,
        "call_to_action": _CTA.get(objective, "Follow for the next one."),
        "hashtags": (tags or [hashtag(subject)])[:5],
        "duration_seconds": hook_len + per_scene * len(scenes),
    }
