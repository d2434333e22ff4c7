"""Admission control: how much one gateway takes on at once.

Runs in flight and watchers (WatchRun and RunWorkflow streams) are bounded. Beyond a
bound, StartRun, RunWorkflow and WatchRun answer RESOURCE_EXHAUSTED with a
`google.rpc.RetryInfo` delay, before anything is stored: a refused start leaves no
trace, so a client retrying with the same request_id gets one run, never two. A run
already accepted is never refused later: runs resumed after a restart count against
the bound but are always taken back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from agentmesh.errors import ResourceExhausted

DEFAULT_MAX_RUNS = 20_000
DEFAULT_MAX_WATCHERS = 5_000
#: What a refused caller is told to wait: long enough for a burst to drain, short enough
#: that a client's retry loop (grpc's, or ours) does not idle.
RETRY_DELAY_S = 1.0


class Admission:
    def __init__(self, max_runs: int = DEFAULT_MAX_RUNS, max_watchers: int = DEFAULT_MAX_WATCHERS) -> None:
        if max_runs < 1 or max_watchers < 1:
            raise ValueError("admission limits must be at least 1")
        self.max_runs, self.max_watchers = max_runs, max_watchers
        self.runs = 0
        self.watchers = 0

    def reserve_run(self) -> None:
        """A new run's place, from before it is stored until it ends (`release_run`); raises
        RESOURCE_EXHAUSTED if it would pass the bound. Checked and taken in one step, with no
        await between, so concurrent starts cannot overshoot."""
        if self.runs >= self.max_runs:
            raise _exhausted("runs in flight", self.max_runs)
        self.runs += 1

    def take_back_run(self) -> None:
        """A run accepted before (resumed after a restart): counted, never refused."""
        self.runs += 1

    def release_run(self) -> None:
        self.runs -= 1

    def check_watcher(self) -> None:
        if self.watchers >= self.max_watchers:
            raise _exhausted("watchers", self.max_watchers)

    @contextmanager
    def watcher(self) -> Iterator[None]:
        """A watcher's place for as long as its stream lasts."""
        self.check_watcher()
        self.watchers += 1
        try:
            yield
        finally:
            self.watchers -= 1


def _exhausted(what: str, limit: int) -> ResourceExhausted:
    return ResourceExhausted(
        f"this gateway has {limit:,} {what}, its limit; retry in {RETRY_DELAY_S:g}s",
        retry_delay=RETRY_DELAY_S,
        reason="GATEWAY_AT_CAPACITY",
        metadata={"limit": what.replace(" ", "_"), "max": str(limit)},
    )
