"""A configuration file read again when it changes, the previous content kept if the new one is bad."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from agentmesh.files import stamp

log = logging.getLogger("agentmesh.gateway.auth")

T = TypeVar("T")

#: At most one stat() of the file per this many seconds, however many calls come in.
CHECK_INTERVAL_S = 1.0


class ReloadingFile(Generic[T]):
    def __init__(self, path: Path, parse: Callable[[str], T], what: str) -> None:
        """Reads and parses the file now: a missing or wrong file fails here, at start-up."""
        self._path, self._parse, self._what = path, parse, what
        self._stamp = stamp(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ValueError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None
        self._value = parse(text)
        self._checked = time.monotonic()

    def current(self, force: bool = False) -> T:
        """The parsed content; re-read first if the file changed (looked at once a second, or now)."""
        moment = time.monotonic()
        if not force and moment - self._checked < CHECK_INTERVAL_S:
            return self._value
        self._checked = moment
        now = stamp(self._path)
        if now == self._stamp:
            return self._value
        self._stamp = now
        try:
            self._value = self._parse(self._path.read_text())
        except (OSError, ValueError) as exc:
            log.warning(
                f"cannot reload the {self._what}; keeping the previous one", extra={"error": str(exc)}
            )
            return self._value
        log.info(f"reloaded the {self._what}", extra={"path": str(self._path)})
        return self._value
