"""The servicer context an HTTP request gives the gRPC servicer it is transcoded to.

The servicer reads the caller's metadata from it (`traceparent`, through
`tracing.starting_traceparent`) and ends a failed call by setting its status on it
(`agentmesh.status.rpc_errors`, the one error-mapping path); the transcoder then answers with
the problem that status stands for. `send_initial_metadata` is how a stream says it is open
(a WatchRun admitted), so that an SSE response can start before the first event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NoReturn

import grpc

from agentmesh.status import Answered

#: Request headers a servicer may read as metadata (what the gRPC port's callers send as such).
FORWARDED_HEADERS = frozenset({"traceparent", "tracestate", "user-agent"})


class HttpContext(grpc.aio.ServicerContext[Any, Any]):
    def __init__(self, headers: Sequence[tuple[bytes, bytes]], peer: str) -> None:
        self._metadata = grpc.aio.Metadata(
            *(
                (key.decode("latin-1"), value.decode("latin-1"))
                for key, value in headers
                if key.decode("latin-1") in FORWARDED_HEADERS
            )
        )
        self._peer = peer
        #: Called when the servicer sends its initial metadata (a stream is open).
        self.on_open: Callable[[], None] | None = None
        self._code: grpc.StatusCode | None = None
        self._details = ""
        self._trailing: tuple[tuple[str, str | bytes], ...] = ()

    @property
    def status(self) -> grpc.Status | None:
        """The status the servicer ended the call with, if it set one."""
        if self._code is None or self._code == grpc.StatusCode.OK:
            return None
        return _Status(self._code, self._details, self._trailing)

    # --- what the servicer uses ----------------------------------------------------------------

    def invocation_metadata(self) -> grpc.aio.Metadata | None:
        return self._metadata

    def time_remaining(self) -> float | None:  # type: ignore[override]
        return None  # as grpc says of a call without a deadline: HTTP requests carry none

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def set_trailing_metadata(self, trailing_metadata: Iterable[tuple[str, str | bytes]]) -> None:
        self._trailing = tuple(trailing_metadata)

    async def send_initial_metadata(self, initial_metadata: Iterable[tuple[str, str | bytes]]) -> None:
        if self.on_open is not None:
            self.on_open()

    async def abort(
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: Iterable[Any] = ()
    ) -> NoReturn:
        self.set_code(code)
        self.set_details(details)
        self.set_trailing_metadata(trailing_metadata)
        raise Answered

    async def abort_with_status(self, status: grpc.Status) -> NoReturn:
        self.set_status(status)
        raise Answered

    def set_status(self, status: grpc.Status) -> None:
        self.set_code(status.code)
        self.set_details(status.details)
        self.set_trailing_metadata(status.trailing_metadata)

    def peer(self) -> str:
        return self._peer

    # --- what no transcoded call uses --------------------------------------------------------

    async def read(self) -> Any:
        raise NotImplementedError("an HTTP/JSON call carries one request")

    async def write(self, message: Any) -> None:
        raise NotImplementedError("the transcoder reads what a streaming servicer yields")

    def set_compression(self, compression: grpc.Compression) -> None:
        pass

    def disable_next_message_compression(self) -> None:
        pass

    def peer_identities(self) -> Iterable[bytes] | None:
        return None

    def peer_identity_key(self) -> str | None:
        return None

    def auth_context(self) -> Mapping[str, Iterable[bytes]]:
        return {}


class _Status(grpc.Status):
    def __init__(
        self, code: grpc.StatusCode, details: str, trailing: tuple[tuple[str, str | bytes], ...]
    ) -> None:
        self.code = code
        self.details = details
        self.trailing_metadata = trailing
