"""How the offline provider answers the researcher: plausible, deterministic, derived from the input."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentmesh_services._text import keywords, stable_fraction

# Angles in the order a careful researcher covers them, each with the terms it focuses on;
# a plan takes the first N.
ANGLES = (
    (
        "Foundations",
        "Which core ideas and definitions underpin {topic}?",
        ("definitions", "core principles", "history"),
    ),
    (
        "Current landscape",
        "Where does {topic} stand today, and who shapes it?",
        ("adoption", "key players", "recent shifts"),
    ),
    (
        "Benefits and opportunities",
        "What does {topic} improve, and for whom?",
        ("efficiency", "access", "quality"),
    ),
    ("Challenges and risks", "What limits {topic}, and what can go wrong?", ("cost", "risk", "skills gaps")),
    (
        "Evidence and case studies",
        "Which real cases show {topic} at work?",
        ("case studies", "measured outcomes", "comparisons"),
    ),
    (
        "Costs and economics",
        "What does {topic} cost, and who gains?",
        ("total cost", "funding", "return on investment"),
    ),
    (
        "People and society",
        "How does {topic} affect people and communities?",
        ("communities", "jobs", "inclusion"),
    ),
    (
        "Tools and methods",
        "Which tools and methods does {topic} rely on?",
        ("tooling", "standards", "infrastructure"),
    ),
    (
        "Rules and governance",
        "Which rules and policies govern {topic}?",
        ("regulation", "licensing", "accountability"),
    ),
    (
        "Future outlook",
        "How is {topic} likely to change in the next five years?",
        ("trends", "forecasts", "open questions"),
    ),
)

FINDINGS_BY_DEPTH = {"quick": 2, "standard": 3, "deep": 5}

_CLAIMS = (
    "{aspect} of {topic} depend first on {k0}.",
    "Sources on {topic} agree that {k1} matters more than is usually assumed.",
    "The open questions about {topic} concern {k0} and {k2}.",
    "Practitioners get better results from {topic} once {k1} is measured explicitly.",
    "Evidence on {topic} is strongest for {k0} and thinnest for {k2}.",
)


def plan(data: Mapping[str, Any]) -> dict[str, Any]:
    topic = str(data["topic"])
    count = int(data.get("max_subtopics", 3))
    quoted = f"\u201c{topic}\u201d"
    subtopics = [
        {"title": title, "question": question.format(topic=quoted), "keywords": list(focus)}
        for title, question, focus in ANGLES[:count]
    ]
    return {"topic": topic, "depth": data.get("depth", "standard"), "subtopics": subtopics}


def research(data: Mapping[str, Any]) -> dict[str, Any]:
    subtopic = data["subtopic"]
    title = subtopic["title"] if isinstance(subtopic, Mapping) else str(subtopic)
    question = subtopic.get("question", "") if isinstance(subtopic, Mapping) else ""
    given = list(subtopic.get("keywords", [])) if isinstance(subtopic, Mapping) else []
    topic = str(data.get("topic") or title)
    k0, k1, k2 = [*given, *keywords(f"{title} {question}", 3), "practice", "evidence", "scale"][:3]
    count = FINDINGS_BY_DEPTH.get(str(data.get("depth", "standard")), 3)
    findings = [
        {
            "claim": template.format(aspect=title, topic=topic, k0=k0, k1=k1, k2=k2),
            "detail": f"Composed offline for the question: {question or title}",
            "confidence": round(0.55 + 0.4 * stable_fraction(topic, title, str(i)), 2),
        }
        for i, template in enumerate(_CLAIMS[:count])
    ]
    summary = f"{title}: {len(findings)} findings, chiefly about {k0} and {k1}."
    return {"subtopic": title, "question": question, "findings": findings, "summary": summary}
