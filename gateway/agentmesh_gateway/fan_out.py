"""for_each: one invocation per item, at most MAX_ITEMS_IN_FLIGHT at once, joined in order.

A step's items are invocations of their own (each with its attempts, its question, its child
run); the step completes with the list of their outputs once every item has, fails with the first
item that fails for good, and waits (Parked) while some item waits for an answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from google.protobuf import struct_pb2

from agentmesh.v1 import workflow_pb2
from agentmesh_gateway.failures import Parked, StepError, run_error
from agentmesh_gateway.limits import MAX_FOR_EACH_ITEMS
from agentmesh_gateway.state import RunState

#: for_each items in flight at once, per step: enough that a fan-out over a hundred slow calls
#: takes one call's time; few enough that no agent is sent 10,000 calls at once, and that the
#: replies of all of them arriving together are handled in a few milliseconds of the loop.
MAX_ITEMS_IN_FLIGHT = 128
#: Items started (or, resumed, found done) per pass of the event loop.
ITEM_BATCH = 32

#: Invokes one item: (step, index, item, how many items) → its completion recorded.
Invoke = Callable[[workflow_pb2.Step, int | None, Any, int], Awaitable[None]]


async def fan_out(
    state: RunState, step: workflow_pb2.Step, items: Any, invoke: Invoke
) -> tuple[list[Any], struct_pb2.Value, str]:
    """Invoke every item of what the step's for_each gave; their outputs in order, as Python and
    as recorded, and their texts. Parked if some item waits (the others went on)."""
    if not isinstance(items, list):
        problem, reason = f"for_each gave a {type(items).__name__}, not a list", "FOR_EACH_NOT_A_LIST"
    elif len(items) > MAX_FOR_EACH_ITEMS:
        problem = f"for_each gave {len(items):,} items; at most {MAX_FOR_EACH_ITEMS:,} are allowed"
        reason = "FOR_EACH_TOO_LONG"
    else:
        problem = reason = ""
    if problem:
        raise StepError(run_error("INVALID_ARGUMENT", problem, reason=reason, step_id=step.id), attempt=0)
    # Items go out at most MAX_ITEMS_IN_FLIGHT at a time, each worker taking the next; workers
    # start a batch per loop pass, so neither starting a wide fan-out (every item's first
    # steps run in the pass its task starts) nor 10,000 calls at one agent holds the loop.
    pending = enumerate(items)
    waiting = False

    async def work() -> None:
        nonlocal waiting
        for index, item in pending:
            try:
                await invoke(step, index, item, len(items))
            except Parked:
                waiting = True  # this item waits for an answer; the others go on
            # Finishing one item and starting the next in separate passes: replies that arrive
            # together are recorded in one pass, their successors sent in the next. (Items done
            # before a restart return without awaiting anything: this yields for them too.)
            await asyncio.sleep(0)

    try:
        async with asyncio.TaskGroup() as group:
            for n in range(min(MAX_ITEMS_IN_FLIGHT, len(items))):
                group.create_task(work())
                if n % ITEM_BATCH == ITEM_BATCH - 1:
                    await asyncio.sleep(0)
    except* StepError as failed:
        # The first item to fail for good fails the step; the group has cancelled the others.
        raise failed.exceptions[0] from None
    if waiting:
        raise Parked
    done = [state.invocation(step.id, index) for index in range(len(items))]
    # The join is built from the items' recorded outputs, copied in C: converting 10,000 of
    # them from Python again would hold the loop for tens of milliseconds.
    joined = struct_pb2.Value()
    joined.list_value.values.extend(invocation.value for invocation in done)
    texts = "\n\n".join(invocation.text for invocation in done if invocation.text)
    return [invocation.output for invocation in done], joined, texts
