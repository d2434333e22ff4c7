"""How the offline provider answers the trend scanner: ranked, deterministic trends for topic and platform."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentmesh_services._text import hashtag, stable_fraction

# Formats that trend on short-video and social platforms, to pair with the topic.
FORMATS = (
    ("first look", "First impressions and unboxings of new {topic} products"),
    ("myth busting", "Short clips that debunk popular beliefs about {topic}"),
    ("day in the life", "Creators showing how {topic} fits into an ordinary day"),
    ("before and after", "Side-by-side results that {topic} made possible"),
    ("hot takes", "Strong, debatable opinions about where {topic} is heading"),
    ("tutorial", "Sixty-second how-tos that make {topic} approachable"),
    ("budget picks", "Affordable ways into {topic}"),
    ("behind the scenes", "How {topic} is made, built or run"),
    ("challenge", "A repeatable challenge built around {topic}"),
    ("reaction", "Creators reacting to the latest {topic} news"),
)

_RANGE_BOOST = {"last_24_hours": 1.6, "last_7_days": 1.0, "last_30_days": 0.7, "last_90_days": 0.5}


def scan(data: Mapping[str, Any]) -> dict[str, Any]:
    topic, platform = str(data["topic"]), str(data["platform"])
    date_range = str(data.get("date_range", "last_7_days"))
    limit = int(data.get("limit", 5))
    candidates = []
    for name, description in FORMATS:
        score = round(40 + 60 * stable_fraction(platform, topic, name), 1)
        growth = round(200 * stable_fraction(date_range, topic, name) * _RANGE_BOOST.get(date_range, 1.0), 1)
        candidates.append((score, f"{topic} {name}", description.format(topic=topic), growth))
    candidates.sort(key=lambda c: -c[0])
    trends = [
        {
            "rank": rank,
            "name": name,
            "hashtag": hashtag(name),
            "score": score,
            "growth_percent": growth,
            "description": description,
        }
        for rank, (score, name, description, growth) in enumerate(candidates[:limit], 1)
    ]
    return {"platform": platform, "topic": topic, "date_range": date_range, "trends": trends}
