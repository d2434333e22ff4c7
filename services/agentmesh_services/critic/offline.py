"""How the offline provider answers the critic: a fixed rubric applied to the report itself."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from agentmesh_services._text import keywords, word_count

MIN_WORDS = 120

# (aspect, weight, what the comment asks for); the weights add up to 1.
RUBRIC = (
    ("title", 0.10, "Open with a level-one heading that names the topic."),
    ("summary", 0.15, "Add a '## Summary' section so a reader gets the gist first."),
    ("structure", 0.20, "Organise the body into at least two '##' sections."),
    ("conclusion", 0.25, "End with a '## Conclusion' that says what the findings mean."),
    ("length", 0.15, f"Develop the argument: the report is shorter than {MIN_WORDS} words."),
    ("coverage", 0.15, "Discuss the topic itself by name; the report drifts away from it."),
)


def review(data: Mapping[str, Any]) -> dict[str, Any]:
    report = data["report"]
    markdown = report if isinstance(report, str) else str(report["markdown"])
    topic = str(data.get("topic", ""))
    headings = [h.strip().lower() for h in re.findall(r"^##\s+(.+)$", markdown, flags=re.MULTILINE)]
    passed = {
        "title": bool(re.search(r"^#\s+\S", markdown, flags=re.MULTILINE)),
        "summary": any("summary" in h for h in headings),
        "structure": len(headings) >= 2,
        "conclusion": any("conclusion" in h for h in headings),
        "length": word_count(markdown) >= MIN_WORDS,
        "coverage": not topic or all(k in markdown.lower() for k in keywords(topic, 2)),
    }
    score = round(sum(weight for aspect, weight, _ in RUBRIC if passed[aspect]), 2)
    feedback = [
        {"aspect": aspect, "comment": comment, "severity": "high" if weight >= 0.2 else "medium"}
        for aspect, weight, comment in RUBRIC
        if not passed[aspect]
    ]
    strengths = [f"Good {aspect}." for aspect, _, _ in RUBRIC if passed[aspect]]
    verdict = "meets" if not feedback else f"misses {len(feedback)} of {len(RUBRIC)} criteria of"
    summary = f"The report {verdict} the rubric (score {score:.2f})."
    return {
        "score": score,
        "approved": False,
        "feedback": feedback,
        "strengths": strengths,
        "summary": summary,
    }
