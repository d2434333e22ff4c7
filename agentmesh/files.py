"""Noticing that files were replaced (a renewed Secret, an edited tokens file) without reading them."""

from __future__ import annotations

import os
from pathlib import Path

Stamp = tuple[tuple[int, int], ...]


def stamp(*paths: Path | None) -> Stamp:
    """What changes when any of the files is replaced: (mtime, size) of each, (0, 0) if absent."""
    stamps = []
    for path in paths:
        try:
            stat = os.stat(path) if path is not None else None
        except OSError:
            stat = None
        stamps.append((stat.st_mtime_ns, stat.st_size) if stat is not None else (0, 0))
    return tuple(stamps)
