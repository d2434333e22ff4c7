"""What starting a run takes, and the id a new run gets."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import struct_pb2

from agentmesh.v1 import run_pb2, workflow_pb2
from agentmesh_gateway.payloads import RunData


def new_run_id() -> str:
    """32 hex digits: milliseconds since the epoch, then 80 random bits (as in UUIDv7).

    Time-ordered ids land at the end of the store's indexes instead of at random places,
    and sort by creation; the id is also the run's trace id, which needs 128 bits.
    """
    return f"{time.time_ns() // 1_000_000:012x}{secrets.randbits(80):020x}"


@dataclass(frozen=True)
class RunRequest:
    """What starting a run takes: the workflow (only read: the run stores a copy), inputs,
    context, and the client's idempotency key."""

    workflow: workflow_pb2.Workflow
    #: A Struct as it came on the wire, or a mapping a JSON surface decoded: either is kept as
    #: it is, and converted once (gateway.payloads).
    inputs: RunData | struct_pb2.Struct | Mapping[str, Any]
    context: run_pb2.RunContext
    request_id: str = ""
    #: Who asks: the run records it as its owner, and agents are told it (empty: nobody known).
    principal: str = ""
    #: The starting call's W3C traceparent, which the run's root span links to.
    traceparent: str = ""
    #: A child run's parent (its step), and how deep in sub-workflows it is.
    parent: run_pb2.ParentRun | None = None
    depth: int = 0
    #: The schedule that starts it, if one does.
    schedule: str = ""
