"""How a step and a run fail: the errors the executor passes along, and the RunError they record."""

from __future__ import annotations

from agentmesh.v1 import run_pb2
from agentmesh_gateway.limits import MAX_ERROR_CHARS


class StepError(Exception):
    """A step failed for good: its retries are spent or its failure is not retryable."""

    def __init__(
        self, error: run_pb2.RunError, attempt: int, item: int | None = None, *, fatal: bool = False
    ) -> None:
        """`fatal`: the run fails with it, even if the step may fail without failing the run."""
        super().__init__(error.message)
        self.error = error
        self.attempt = attempt
        self.item = item
        self.fatal = fatal


class Parked(Exception):
    """The step (or item) waits for an answer or a timer: nothing more happens to it until one
    comes. `wake_at`: when its timer fires (seconds since the epoch); None if only an answer does.
    `answer`: whether an answer wakes it (False for a step that sleeps)."""

    def __init__(self, wake_at: float | None = None, *, answer: bool = True) -> None:
        super().__init__("waiting")
        self.wake_at = wake_at
        self.answer = answer


class RunFailure(Exception):
    """The run fails with this error."""

    def __init__(self, error: run_pb2.RunError) -> None:
        super().__init__(error.message)
        self.error = error


def run_error(code: str, message: str, *, reason: str = "", step_id: str = "") -> run_pb2.RunError:
    """A RunError as runs record it; a message (an agent's, say) is kept to MAX_ERROR_CHARS."""
    if len(message) > MAX_ERROR_CHARS:
        message = f"{message[: MAX_ERROR_CHARS - 1]}… ({len(message):,} characters)"
    return run_pb2.RunError(code=code, message=message, reason=reason[:100], step_id=step_id)
