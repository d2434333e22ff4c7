"""How the offline provider answers the post scheduler: a caption per platform from the script."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Platforms cap caption length; X is the tightest.
CAPTION_LIMITS = {
    "x": 280,
    "tiktok": 2200,
    "instagram": 2200,
    "youtube": 5000,
    "linkedin": 3000,
    "facebook": 5000,
}


def captions(data: Mapping[str, Any]) -> dict[str, Any]:
    script = data["script"]
    title = script["title"]
    hook = script.get("hook", "")
    cta = script.get("call_to_action", "")
    out = {}
    for platform in data["platforms"]:
        text = (
            f"{hook} {cta}".strip()
            if platform in ("tiktok", "instagram", "x")
            else f"{title}. {hook} {cta}".strip()
        )
        out[platform] = text[: CAPTION_LIMITS.get(platform, 2200)]
    return {"captions": out}
