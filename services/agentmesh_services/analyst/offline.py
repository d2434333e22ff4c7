"""How the offline provider answers the analyst: themes and key points drawn from the findings given."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def analyze(data: Mapping[str, Any]) -> dict[str, Any]:
    topic = str(data["topic"])
    themes: list[dict[str, Any]] = []
    scored: list[tuple[float, str]] = []
    for note in data["findings"]:
        if isinstance(note, str):
            themes.append({"name": note[:60], "summary": note, "evidence": [note]})
            scored.append((0.5, note))
            continue
        claims = [f["claim"] for f in note["findings"]]
        themes.append({"name": note["subtopic"], "summary": note["summary"], "evidence": claims[:3]})
        scored += [(float(f["confidence"]), f["claim"]) for f in note["findings"]]
    scored.sort(key=lambda pair: -pair[0])
    key_points = [claim for _, claim in scored[:5]]
    confidence = round(sum(score for score, _ in scored) / len(scored), 2)
    names = ", ".join(t["name"] for t in themes)
    summary = f"Across {len(themes)} themes ({names}), the strongest evidence on {topic} is: {key_points[0]}"
    return {
        "topic": topic,
        "themes": themes,
        "key_points": key_points,
        "summary": summary,
        "confidence": confidence,
    }
