"""Validation of any workflow, each valid one checked once.

Clients submit the same few workflows over and over, so a valid workflow's execution order is
kept by the digest of its encoding (at most VALIDATED_CACHE_BYTES of them). Size and step count
are checked first and on the spot; a large workflow is then validated on a thread of its own,
so the event loop (health checks, other runs) goes on meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor

from agentmesh.v1 import workflow_pb2
from agentmesh_gateway.limits import MiB
from agentmesh_gateway.validation import check_size, validate

#: What the cache of validated workflows may hold (their execution orders, keyed by digest).
VALIDATED_CACHE_BYTES = 4 * MiB
#: Workflows up to this size are validated on the event loop: a thread hop costs more.
INLINE_VALIDATION_BYTES = 64 * 1024


class Validator:
    def __init__(
        self, agent_names: Callable[[], Collection[str]], workflow_names: Callable[[], Collection[str]]
    ) -> None:
        """`agent_names`, `workflow_names`: what a workflow's steps may call, asked at each validation."""
        self._agent_names = agent_names
        self._workflow_names = workflow_names
        self._valid: OrderedDict[bytes, tuple[str, ...]] = OrderedDict()
        self._valid_bytes = 0
        # One thread: a burst of large workflows waits its turn instead of taking the GIL
        # from the event loop several threads at a time.
        self._validator = ThreadPoolExecutor(max_workers=1, thread_name_prefix="validation")

    def close(self) -> None:
        self._validator.shutdown(wait=False, cancel_futures=True)

    async def validate(self, workflow: workflow_pb2.Workflow) -> list[str]:
        """The execution order, or InvalidInput with every problem."""
        check_size(workflow)
        key = hashlib.sha256(workflow.SerializeToString(deterministic=True)).digest()
        order = self._valid.get(key)
        if order is not None:
            self._valid.move_to_end(key)
            return list(order)
        names, workflows = self._agent_names(), frozenset(self._workflow_names())
        if workflow.ByteSize() <= INLINE_VALIDATION_BYTES:
            found = validate(workflow, names, workflows)
        else:
            found = await asyncio.get_running_loop().run_in_executor(
                self._validator, validate, workflow, names, workflows
            )
        self._remember(key, tuple(found))
        return found

    def _remember(self, key: bytes, order: tuple[str, ...]) -> None:
        self._valid[key] = order
        self._valid_bytes += _cost(key, order)
        while self._valid_bytes > VALIDATED_CACHE_BYTES:
            old_key, old_order = self._valid.popitem(last=False)
            self._valid_bytes -= _cost(old_key, old_order)


def _cost(key: bytes, order: tuple[str, ...]) -> int:
    """About what a cache entry holds in memory: its key, and each step id with its reference."""
    return len(key) + sum(len(step_id) + 64 for step_id in order) + 100
