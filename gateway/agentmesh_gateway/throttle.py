"""Per-agent concurrency and rate limits (the mesh file's `max_concurrency`, `rate`, `burst`).

Calls beyond an agent's limits wait in the gateway, first come first served: a call that finds
others waiting queues behind them even if a slot is free that instant, so no call waits for ever
behind later ones. The rate is a token bucket (`burst` calls at once, refilled at `rate` a
second). With several gateway replicas each keeps its share: the limits divided by the replicas
alive (they heartbeat in the store), rounded up, so together they hold the limit within a
replica's rounding, and no call pays a round trip to the store.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_PER = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
}

OnWait = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class AgentLimits:
    """An agent's limits: calls in flight at once, and calls a second (with a burst)."""

    max_concurrency: int | None = None
    #: Calls a second.
    rate: float | None = None
    #: Calls that may go at once after a quiet spell [the rate's one second's worth, at least 1].
    burst: int | None = None

    @property
    def limited(self) -> bool:
        return self.max_concurrency is not None or self.rate is not None


def parse_rate(text: str) -> float:
    """Calls a second in "20/s", "100/min", "1000/hour"; ValueError otherwise."""
    match = _RATE.match(str(text))
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a rate such as 20/s, 100/min or 1000/hour")
    return float(match.group(1)) / _PER[match.group(2)]


class Throttle:
    """One agent's limits on this gateway."""

    def __init__(self, limits: AgentLimits) -> None:
        self.limits = limits
        self._replicas = 1
        self._in_flight = 0
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._tokens = float(self._burst())
        self._refilled = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None

    def share(self, replicas: int) -> None:
        """Keep this gateway's share of the limits among `replicas` live replicas."""
        self._replicas = max(1, replicas)
        self._tokens = min(self._tokens, float(self._burst()))
        self._serve()

    @asynccontextmanager
    async def slot(self, on_wait: OnWait) -> AsyncIterator[None]:
        """Hold one call's place under the limits; `on_wait(limit)` is awaited first if the call
        has to wait (limit: "max_concurrency" or "rate")."""
        if not self.limits.limited:
            yield
            return
        if self._waiting or not self._admit():
            await on_wait(self._blocking())
            waiter = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            self._serve()
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._release()  # admitted as it was cancelled: give the place back
                elif waiter in self._waiting:
                    self._waiting.remove(waiter)
                raise
        try:
            yield
        finally:
            self._release()

    def _concurrency(self) -> int | None:
        limit = self.limits.max_concurrency
        return None if limit is None else max(1, math.ceil(limit / self._replicas))

    def _rate(self) -> float | None:
        rate = self.limits.rate
        return None if rate is None else rate / self._replicas

    def _burst(self) -> int:
        rate = self._rate()
        if rate is None:
            return 1
        if self.limits.burst is not None:
            return max(1, math.ceil(self.limits.burst / self._replicas))
        return max(1, math.ceil(rate))

    def _refill(self) -> None:
        rate = self._rate()
        now = time.monotonic()
        if rate is not None:
            self._tokens = min(float(self._burst()), self._tokens + (now - self._refilled) * rate)
        self._refilled = now

    def _blocking(self) -> str:
        concurrency = self._concurrency()
        if concurrency is not None and self._in_flight >= concurrency:
            return "max_concurrency"
        return "rate"

    def _admit(self) -> bool:
        """Take a place now if one is free."""
        concurrency = self._concurrency()
        if concurrency is not None and self._in_flight >= concurrency:
            return False
        if self._rate() is not None:
            self._refill()
            if self._tokens < 1:
                return False
            self._tokens -= 1
        self._in_flight += 1
        return True

    def _release(self) -> None:
        self._in_flight -= 1
        self._serve()

    def _serve(self) -> None:
        """Admit waiters in order while there is room; wake again when a token is due."""
        while self._waiting and self._waiting[0].done():
            self._waiting.popleft()  # cancelled while waiting
        while self._waiting and self._admit():
            waiter = self._waiting.popleft()
            waiter.set_result(None)
            while self._waiting and self._waiting[0].done():
                self._waiting.popleft()
        rate = self._rate()
        if self._waiting and rate is not None and self._timer is None:
            concurrency = self._concurrency()
            if concurrency is None or self._in_flight < concurrency:
                delay = max(0.0, (1 - self._tokens) / rate)
                self._timer = asyncio.get_running_loop().call_later(delay, self._tick)

    def _tick(self) -> None:
        self._timer = None
        self._serve()
