"""A valid and an invalid request for each shipped agent, and what a valid answer must hold."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

ANALYSIS = {
    "topic": "Open source in schools",
    "themes": [
        {"name": "Costs", "summary": "Licences cost nothing.", "evidence": ["No licence fees."]},
        {"name": "Skills", "summary": "Pupils learn real tools.", "evidence": ["Tools used in industry."]},
    ],
    "key_points": ["No licence fees.", "Pupils learn real tools."],
    "summary": "Open source saves money and teaches real skills.",
    "confidence": 0.7,
}

REPORT = "# Open source in schools\n\n## Summary\n\nIt saves money.\n\n## Costs\n\nNo licence fees.\n"

SCRIPT = {
    "title": "Smartwatch unboxing",
    "hook": "Stop scrolling!",
    "call_to_action": "Link in bio.",
    "hashtags": ["#Tech"],
}


@dataclass(frozen=True)
class Sample:
    skill: str
    valid: dict[str, Any]
    check: Callable[[dict[str, Any]], bool]
    invalid: dict[str, Any]
    bad_field: str


def _iso_with_offset(value: str) -> bool:
    return datetime.fromisoformat(value).utcoffset() is not None


SAMPLES: dict[str, Sample] = {
    "researcher": Sample(
        "plan",
        {"topic": "Benefits of open source", "depth": "quick", "max_subtopics": 2},
        lambda d: len(d["subtopics"]) == 2 and all(s["title"] and s["question"] for s in d["subtopics"]),
        {"topic": "Benefits of open source", "max_subtopics": 11},
        "max_subtopics",
    ),
    "analyst": Sample(
        "analyze",
        {
            "topic": "Open source in schools",
            "findings": [
                {
                    "subtopic": "Costs",
                    "summary": "Cheaper.",
                    "findings": [{"claim": "No licence fees.", "confidence": 0.9}],
                }
            ],
        },
        lambda d: d["themes"][0]["name"] == "Costs" and "No licence fees." in d["key_points"],
        {"topic": "Open source in schools", "findings": []},
        "findings",
    ),
    "writer": Sample(
        "draft",
        {"topic": "Open source in schools", "analysis": ANALYSIS},
        lambda d: d["markdown"].startswith("# Open source in schools") and "Costs" in d["sections"],
        {"topic": "Open source in schools"},
        "analysis",
    ),
    "critic": Sample(
        "review",
        {"report": REPORT, "topic": "Open source in schools"},
        lambda d: 0 <= d["score"] <= 1 and d["approved"] is (d["score"] >= 0.8) and len(d["feedback"]) > 0,
        {"report": REPORT, "threshold": 2},
        "threshold",
    ),
    "trend-scanner": Sample(
        "scan",
        {"platform": "tiktok", "topic": "tecnología", "dateRange": "last_7_days"},
        lambda d: [t["rank"] for t in d["trends"]] == [1, 2, 3, 4, 5] and d["date_range"] == "last_7_days",
        {"platform": "myspace", "topic": "tecnología"},
        "platform",
    ),
    "video-scriptor": Sample(
        "script",
        {"format": "unboxing", "objective": "product_launch", "trends": [{"name": "gadget first look"}]},
        lambda d: bool(d["hook"]) and len(d["scenes"]) >= 1 and bool(d["call_to_action"]),
        {"objective": "product_launch"},
        "format",
    ),
    "post-scheduler": Sample(
        "schedule",
        {"platforms": ["tiktok", "instagram"], "script": SCRIPT, "start": "2026-03-02T10:00:00+00:00"},
        lambda d: (
            [p["platform"] for p in d["posts"]] == ["instagram", "tiktok"]
            and all(_iso_with_offset(p["scheduled_time"]) for p in d["posts"])
        ),
        {"platforms": ["tiktok"], "script": SCRIPT, "timezone": "Mars/Olympus"},
        "timezone",
    ),
}

#: A valid input for every skill of every shipped agent, by (agent, skill).
SKILL_INPUTS: dict[tuple[str, str], dict[str, Any]] = {
    **{(agent, sample.skill): sample.valid for agent, sample in SAMPLES.items()},
    ("researcher", "research"): {
        "subtopic": {"title": "Costs", "question": "What does it cost?", "keywords": ["price"]},
        "topic": "Open source in schools",
        "depth": "quick",
    },
    ("writer", "revise"): {
        "draft": {"markdown": REPORT, "title": "Open source in schools"},
        "critique": {
            "score": 0.5,
            "approved": False,
            "feedback": [{"aspect": "coverage", "comment": "Say more about costs.", "severity": "high"}],
            "summary": "Needs work.",
        },
        "topic": ANALYSIS["topic"],
    },
}
