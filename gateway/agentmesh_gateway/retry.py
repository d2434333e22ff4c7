"""Retry policy: which failures to retry, and how long to wait between attempts."""

from __future__ import annotations

import random
from dataclasses import dataclass

import grpc

from agentmesh.errors import RETRYABLE_CODES
from agentmesh.v1 import workflow_pb2

CODE_NAMES = frozenset(code.name for code in grpc.StatusCode)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 3
    initial_delay: float = 1.0
    backoff_multiplier: float = 2.0
    max_delay: float = 60.0
    jitter: float = 0.1
    non_retryable: frozenset[str] = frozenset()

    @classmethod
    def from_proto(cls, proto: workflow_pb2.RetryPolicy | None) -> RetryPolicy:
        """The policy with every unset field at its default."""
        default = cls()
        if proto is None:
            return default
        return cls(
            max_attempts=proto.max_attempts or default.max_attempts,
            initial_delay=proto.initial_delay.ToTimedelta().total_seconds()
            if proto.HasField("initial_delay")
            else default.initial_delay,
            backoff_multiplier=proto.backoff_multiplier or default.backoff_multiplier,
            max_delay=proto.max_delay.ToTimedelta().total_seconds()
            if proto.HasField("max_delay")
            else default.max_delay,
            jitter=proto.jitter if proto.HasField("jitter") else default.jitter,
            non_retryable=frozenset(proto.non_retryable_codes),
        )

    def should_retry(self, code: grpc.StatusCode, attempt: int) -> bool:
        """Whether the failure of attempt `attempt` (from 1) earns another attempt."""
        return attempt < self.max_attempts and code in RETRYABLE_CODES and code.name not in self.non_retryable

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after attempt `attempt` failed: exponential, capped, jittered."""
        base = min(self.initial_delay * self.backoff_multiplier ** (attempt - 1), self.max_delay)
        spread = base * self.jitter
        return max(0.0, base + (rng or random).uniform(-spread, spread))
