"""Small deterministic text helpers the agents' offline composers share."""

from __future__ import annotations

import hashlib
import re

_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "de",
        "del",
        "el",
        "en",
        "for",
        "from",
        "how",
        "in",
        "is",
        "it",
        "la",
        "las",
        "los",
        "of",
        "on",
        "or",
        "que",
        "the",
        "to",
        "un",
        "una",
        "what",
        "which",
        "with",
        "y",
    ]
)


def keywords(text: str, limit: int = 5) -> list[str]:
    """Distinct content words of `text`, in order of first appearance."""
    seen: list[str] = []
    for word in re.findall(r"[^\W\d_][\w'-]*", text.lower()):
        if len(word) > 2 and word not in _STOPWORDS and word not in seen:
            seen.append(word)
    return seen[:limit]


def stable_fraction(*parts: str) -> float:
    """A number in [0, 1) that depends only on `parts`: variety without randomness."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def hashtag(text: str) -> str:
    return "#" + "".join(w.capitalize() for w in re.findall(r"\w+", text))[:40]


def word_count(text: str) -> int:
    return len(re.findall(r"\w+", text))
