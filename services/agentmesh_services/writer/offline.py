"""How the offline provider answers the writer: markdown assembled from the analysis and critique.

The offline draft leaves its conclusion to the revision, so an offline research run
goes through the critic's "revise" path just as a run against a real model often does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def draft(data: Mapping[str, Any]) -> str:
    topic = str(data["topic"])
    analysis = data["analysis"]
    lines = [f"# {topic}", "", "## Summary", "", str(analysis["summary"]), "", "## Key points", ""]
    lines += [f"- {point}" for point in analysis["key_points"]]
    for theme in analysis["themes"]:
        lines += ["", f"## {theme['name']}", "", str(theme["summary"])]
        lines += [f"- {item}" for item in theme.get("evidence", [])]
    lines += ["", f"*Written for {data.get('audience', 'general readers')}.*"]
    return "\n".join(lines) + "\n"


def revise(data: Mapping[str, Any]) -> str:
    markdown = str(data["draft"]).rstrip()
    topic = str(data.get("topic") or _title(markdown))
    feedback = data["critique"].get("feedback", [])
    added: list[str] = []
    aspects = {item["aspect"] for item in feedback}
    if "summary" in aspects:
        markdown = markdown.replace("\n", f"\n\n## Summary\n\nThis report examines {topic}.\n", 1)
    if "length" in aspects or "structure" in aspects:
        added += [
            "",
            "## Context",
            "",
            f"{topic} is best understood through the evidence gathered above, "
            "weighing what is well established against what is still open.",
        ]
    if "conclusion" in aspects or not feedback:
        added += [
            "",
            "## Conclusion",
            "",
            f"Taken together, the findings show where {topic} stands: the "
            "strongest evidence points to the key points above, while the open questions mark where "
            "further research should go next.",
        ]
    others = [
        item for item in feedback if item["aspect"] not in {"summary", "length", "structure", "conclusion"}
    ]
    if others:
        added += ["", "## Revision notes", ""] + [f"- Addressed: {item['comment']}" for item in others]
    return markdown + "\n" + "\n".join(added) + "\n"


def _title(markdown: str) -> str:
    for line in markdown.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return "the topic"
