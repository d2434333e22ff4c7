"""What one request may ask of the gateway, and what one run may build.

Every cost the gateway pays is bounded by a request's size: a workflow is checked
against these before any work that grows faster than its length, and every value a
run stores (inputs, step inputs and outputs, expression results, run outputs) is
measured against them before it is stored. A stored run must also always be
readable back, by the gateway after a restart and by any client: protobuf refuses
to decode a message nested more than 100 levels deep, and each JSON level costs up
to three of those (Struct, map entry, Value), so JSON nesting is kept well below it.

The README's limits table lists these; a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

MiB = 1024 * 1024

#: Steps in one workflow.
MAX_STEPS = 1000
#: A workflow as sent (its protobuf encoding).
MAX_WORKFLOW_BYTES = 1 * MiB
#: A run's inputs and shared context together.
MAX_RUN_INPUT_BYTES = 1 * MiB
#: Nesting of any JSON value: inputs, step inputs and outputs, expression results, run outputs.
#: 20 levels with the deepest envelope stay under 70 of protobuf's 100.
MAX_JSON_DEPTH = 20
#: A value an expression builds, a step's resolved input, and a run's outputs.
MAX_VALUE_BYTES = 1 * MiB
#: What one step (or for_each item) returns: its output, text and files (their bytes or URLs).
MAX_STEP_OUTPUT_BYTES = 1 * MiB
#: Every step output, text and file a run keeps; with the limits above a run's snapshot stays
#: under the 16 MiB message limit, so GetRun can always send it.
MAX_RUN_OUTPUT_BYTES = 8 * MiB
#: Items of one for_each.
MAX_FOR_EACH_ITEMS = 10_000
#: Characters of one expression, and depth of its syntax tree.
MAX_EXPRESSION_CHARS = 1000
MAX_EXPRESSION_DEPTH = 32
#: Durations (timeouts, retry delays): at most a year.
MAX_DURATION_SECONDS = 365 * 24 * 3600
#: Characters of an error message a run records (an agent's message may be longer).
MAX_ERROR_CHARS = 2000
#: Bytes of runs in one ListRuns page (at least one run is always sent): under the 4 MiB
#: that most gRPC clients accept by default.
MAX_LIST_PAGE_BYTES = 3 * MiB


class LimitExceeded(ValueError):
    """A value is larger or deeper than its limit allows; the message says which and by how much."""


def check_value(
    value: Any, what: str, max_bytes: int = MAX_VALUE_BYTES, max_depth: int = MAX_JSON_DEPTH
) -> int:
    """The size of a JSON-shaped value in bytes (about its JSON encoding), or LimitExceeded.

    Walks the value without recursion and stops as soon as a limit is passed, so the
    cost is bounded by the limit, not by the value: a list holding one large value a
    thousand times is refused after the limit's worth of work.
    """
    size = _scalar_size(value)
    # Depth-first over iterators: a container's children are visited one at a time, never
    # copied out, so a huge container costs only what is visited before the limit is hit.
    stack: list[Iterator[Any]] = []
    if isinstance(value, dict | list | tuple):
        size, stack = _enter(value, size, stack, what, max_depth)
    while stack:
        child = next(stack[-1], _END)
        if child is _END:
            stack.pop()
            continue
        if isinstance(child, dict | list | tuple):
            size, stack = _enter(child, size, stack, what, max_depth)
        else:
            size += _scalar_size(child)
        if size > max_bytes:
            raise LimitExceeded(f"{what} is larger than {_bytes(max_bytes)}")
    if size > max_bytes:
        raise LimitExceeded(f"{what} is larger than {_bytes(max_bytes)}")
    return size


_END = object()


def _enter(
    container: dict[str, Any] | list[Any] | tuple[Any, ...],
    size: int,
    stack: list[Iterator[Any]],
    what: str,
    max_depth: int,
) -> tuple[int, list[Iterator[Any]]]:
    if len(stack) >= max_depth:
        raise LimitExceeded(f"{what} is nested more than {max_depth} levels deep")
    size += 2 + len(container)  # brackets and separators
    if isinstance(container, dict):
        stack.append(iter(_with_keys(container)))
    else:
        stack.append(iter(container))
    return size, stack


def _with_keys(mapping: dict[str, Any]) -> Iterator[Any]:
    """A mapping's values, each preceded by its key (counted as a string)."""
    for key, value in mapping.items():
        yield key
        yield value


def _scalar_size(value: Any) -> int:
    if isinstance(value, str):
        return (len(value) if value.isascii() else len(value.encode())) + 2
    return 0 if isinstance(value, dict | list | tuple) else 8


def _bytes(count: int) -> str:
    return f"{count // MiB} MiB" if count % MiB == 0 else f"{count:,} bytes"
