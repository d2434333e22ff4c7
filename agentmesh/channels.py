"""Channel settings both ends of every agentmesh connection share."""

from __future__ import annotations

from typing import Any

#: Any gRPC message, both ways (gRPC's own default is 4 MiB to receive).
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def message_size_options(max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> list[tuple[str, Any]]:
    """Limits both ends of a channel set alike."""
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
    ]
