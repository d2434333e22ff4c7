"""How the offline provider answers the researcher: plausible, deterministic, derived from the input."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services._text import keywords, stable_fraction

# Angles in the order a careful researcher covers them; a plan takes the first N.
ANGLES = (
    ("Foundations", "What is {topic}, and which core ideas define it?"),
    ("Current landscape", "What is the state of {topic} today, and who shapes it?"),
    ("Benefits and opportunities", "What does {topic} make better, and for whom?"),
    ("Challenges and risks", "What limits {topic}, and what can go wrong?"),
    ("Evidence and case studies", "What real cases show how {topic} works in practice?"),
    ("Costs and economics", "What does {topic} cost, and who gains from it?"),
    ("People and society", "How does {topic} affect people, communities and work?"),
    ("Tools and methods", "Which tools and methods does {topic} depend on?"),
    ("Rules and governance", "Which rules, standards or policies govern {topic}?"),
    ("Future outlook", "How is {topic} likely to change in the next five years?"),
)

FINDINGS_BY_DEPTH = {"quick": 2, "standard": 3, "deep": 5}

_CLAIMS = (
    "{subject} rests above all on {k0}.",
    "Accounts of {subject} agree that {k1} matters more than is usually assumed.",
    "The open questions about {subject} concern {k0} and {k2}.",
    "Practitioners report that {subject} improves once {k1} is measured explicitly.",
    "Evidence on {subject} is strongest for {k0} and thinnest for {k2}.",
)


def plan(data: Mapping[str, Any]) -> dict[str, Any]:
    topic = str(data["topic"])
    count = int(data.get("max_subtopics", 3))
    topic_words = keywords(topic, 3)
    subtopics = [
        {
            "title": title,
            "question": question.format(topic=topic),
            "keywords": [*topic_words, title.split()[0].lower()],
        }
        for title, question in ANGLES[:count]
    ]
    return {"topic": topic, "depth": data.get("depth", "standard"), "subtopics": subtopics}


def research(data: Mapping[str, Any]) -> dict[str, Any]:
    subtopic = data["subtopic"]
    title = subtopic["title"] if isinstance(subtopic, Mapping) else str(subtopic)
    question = subtopic.get("question", "") if isinstance(subtopic, Mapping) else ""
    topic = str(data.get("topic") or title)
    subject = f"{title.lower()} of {topic}" if topic != title else title
    words = [*keywords(f"{title} {topic} {question}", 6), "practice", "evidence", "scale"]
    k0, k1, k2 = words[0], words[1], words[2]
    count = FINDINGS_BY_DEPTH.get(str(data.get("depth", "standard")), 3)
    findings = [
        {
            "claim": template.format(subject=subject.capitalize(), k0=k0, k1=k1, k2=k2),
            "detail": f"Derived offline from the question: {question or title}",
            "confidence": round(0.55 + 0.4 * stable_fraction(topic, title, str(i)), 2),
        }
        for i, template in enumerate(_CLAIMS[:count])
    ]
    summary = f"{title}: {len(findings)} findings, chiefly about {k0} and {k1}."
    return {"subtopic": title, "question": question, "findings": findings, "summary": summary}
