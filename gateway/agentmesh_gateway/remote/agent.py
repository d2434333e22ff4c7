"""An A2A 1.0 agent that workflow steps call: its card, its health, and the tasks steps hold there.

Health: the card is fetched when the gateway starts and again every CHECK_SECONDS; the agent is
SERVING while it fetches (and names a binding the gateway speaks), NOT_SERVING otherwise, and a
card that fails is fetched again after a pause that doubles, BACKOFF_MIN to BACKOFF_MAX (at once
after a call could not reach the agent). A step waits for a SERVING agent as it waits for a
SERVING replica of a mesh agent, within its timeout.

Binding: a2a-sdk's client factory picks the first of gRPC, JSON-RPC, HTTP+JSON that the card
offers (the gateway's order, not the card's), at its best protocol version.

A call is one turn of a step's conversation with one remote task (see `task`).

Cancellation: a step's timeout cancels its task (CancelTask) at once. When the run ends (CancelRun,
a failure, a run timeout), the tasks its unfinished invocations hold are cancelled (`release`);
a gateway that merely stops executing the run (shutdown, a lease lost) leaves them running for
the execution that resumes it.

The bearer token (token_file) goes as `Authorization` on every request, with the W3C
traceparent and the mesh's call metadata (idempotency key, run, step), as HTTP headers or gRPC
metadata.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Sequence

import grpc
import httpx
from a2a.client import Client, ClientCallContext, ClientConfig, ClientFactory
from a2a.client.card_resolver import parse_agent_card
from a2a.client.errors import A2AClientTimeoutError
from a2a.types import a2a_pb2 as a2a
from a2a.utils.constants import TransportProtocol
from a2a.utils.errors import (
    A2AError,
    TaskNotCancelableError,
    TaskNotFoundError,
)
from google.protobuf.json_format import ParseError

from agentmesh.channels import message_size_options
from agentmesh.errors import echo
from agentmesh.v1 import agent_service_pb2 as agent_pb
from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh_gateway.remote import convert
from agentmesh_gateway.remote.endpoint import A2AEndpoint
from agentmesh_gateway.remote.task import Exchange, OnChunk, RemoteFailure, TaskLedger, failure_of

log = logging.getLogger("agentmesh.gateway.remote")
# httpx logs every request at INFO: a line per card check (every CHECK_SECONDS per A2A agent) and
# per call. The gateway logs what matters of both itself; httpx's warnings still show.
if logging.getLogger("httpx").level == logging.NOTSET:
    logging.getLogger("httpx").setLevel(logging.WARNING)

#: The bindings the gateway speaks, in the order it prefers them.
BINDINGS: list[str] = [TransportProtocol.GRPC, TransportProtocol.JSONRPC, TransportProtocol.HTTP_JSON]
CARD_TIMEOUT = 5.0
#: A SERVING agent's card is fetched again this often.
CHECK_SECONDS = 5.0
#: A card that does not fetch is tried again after this long, doubling up to BACKOFF_MAX.
BACKOFF_MIN, BACKOFF_MAX = 0.25, 5.0


CANCEL_TIMEOUT = 10.0


#: How long calls on a client made from an older card get to finish.
_OLD_CLIENT_GRACE_SECONDS = 600.0
_RECONNECT_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


class RemoteAgent:
    """One A2A agent, known by its card URL (the address ListAgents shows)."""

    def __init__(self, name: str, endpoint: A2AEndpoint) -> None:
        self.agent = self.name = name
        self.endpoint = endpoint
        self.address = str(endpoint)
        self.health: pb.ReplicaHealth.ValueType = pb.REPLICA_HEALTH_UNKNOWN
        self.card: a2a.AgentCard | None = None
        self.mesh_card: agent_pb.AgentCard | None = None
        self.binding = ""
        self._client: Client | None = None
        verify: ssl.SSLContext | bool = True
        if endpoint.tls_ca is not None:
            verify = ssl.create_default_context(cafile=str(endpoint.tls_ca))
        # No read timeout: a stream of a task's events (SSE) may be quiet for as long as it works.
        self._http = httpx.AsyncClient(verify=verify, timeout=httpx.Timeout(30.0, read=None))
        self._changed = asyncio.Condition()
        self._recheck = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    # --- health ---------------------------------------------------------------------------

    def start(self) -> None:
        self._watcher = asyncio.create_task(self._watch(), name=f"a2a-card:{self.name}")

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        if self._background:  # cancellations under way get a moment to reach the agent
            await asyncio.wait(self._background, timeout=2)
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close()
        await self._http.aclose()

    def status(self) -> pb.AgentStatus:
        return pb.AgentStatus(
            name=self.name,
            replicas=[pb.Replica(address=self.address, health=self.health)],
            card=self.mesh_card,
        )

    async def _watch(self) -> None:
        pause = BACKOFF_MIN
        while True:
            try:
                self._use(await self._fetch_card())
            except (A2AError, RemoteFailure, httpx.HTTPError, ParseError, ValueError, OSError) as exc:
                if self.health != pb.REPLICA_HEALTH_NOT_SERVING:
                    log.warning(
                        "A2A agent card unavailable",
                        extra={"agent": self.name, "card": self.address, "error": echo(exc, 300)},
                    )
                await self._set_health(pb.REPLICA_HEALTH_NOT_SERVING)
                wait, pause = pause, min(pause * 2, BACKOFF_MAX)
            else:
                await self._set_health(pb.REPLICA_HEALTH_SERVING)
                wait, pause = CHECK_SECONDS, BACKOFF_MIN
            self._recheck.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._recheck.wait(), wait)

    async def _fetch_card(self) -> a2a.AgentCard:
        # What A2ACardResolver does, less its log line of the whole card at each fetch.
        headers = {"Authorization": auth} if (auth := self._authorization()) else {}
        response = await self._http.get(self.address, headers=headers, timeout=CARD_TIMEOUT)
        response.raise_for_status()
        return parse_agent_card(response.json())

    def _use(self, card: a2a.AgentCard) -> None:
        """Calls go by this card from now on (a new client if it changed); ValueError if it names
        no binding the gateway speaks."""
        if self._client is not None and card == self.card:
            return
        config = ClientConfig(
            streaming=True,
            supported_protocol_bindings=list(BINDINGS),
            use_client_preference=True,
            httpx_client=self._http,
            grpc_channel_factory=self._channel,
        )
        client = ClientFactory(config).create(card)  # ValueError: no compatible binding
        old, self._client = self._client, client
        self.card, self.mesh_card = card, convert.mesh_card(card)
        offered = {i.protocol_binding for i in card.supported_interfaces}
        self.binding = next((b for b in BINDINGS if b in offered), "")
        log.info(
            "A2A agent card",
            extra={
                "agent": self.name,
                "card": self.address,
                "binding": self.binding,
                "streaming": card.capabilities.streaming,
                "skills": [s.id for s in card.skills],
            },
        )
        if old is not None:
            self._spawn(_close_later(old), f"a2a-retire:{self.name}")

    def _channel(self, url: str) -> grpc.aio.Channel:
        """A channel to a card's gRPC interface (`host:port`, or with a grpc[s]/http[s] scheme)."""
        scheme, sep, rest = url.partition("://")
        target = rest.rstrip("/") if sep else url
        secure = scheme in ("grpcs", "https") if sep else self.address.startswith("https://")
        options = [*message_size_options(), *_RECONNECT_OPTIONS]
        if not secure:
            return grpc.aio.insecure_channel(target, options=options)
        ca = self.endpoint.tls_ca.read_bytes() if self.endpoint.tls_ca is not None else None
        return grpc.aio.secure_channel(
            target, grpc.ssl_channel_credentials(root_certificates=ca), options=options
        )

    async def _set_health(self, health: pb.ReplicaHealth.ValueType) -> None:
        if health == self.health:
            return
        log.info(
            "replica health",
            extra={"agent": self.name, "address": self.address, "health": pb.ReplicaHealth.Name(health)},
        )
        self.health = health
        async with self._changed:
            self._changed.notify_all()

    async def pick(self, deadline: float | None) -> RemoteAgent:
        """This agent once it is SERVING, waiting for that until `deadline` (monotonic)."""
        async with self._changed:
            while self.health != pb.REPLICA_HEALTH_SERVING or self._client is None:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise RemoteFailure(
                        grpc.StatusCode.UNAVAILABLE,
                        f"the A2A agent {self.name!r} is not SERVING"
                        f" (its card at {self.address} does not fetch)",
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)
        return self

    # --- calls ----------------------------------------------------------------------------

    async def call(
        self,
        request: agent_pb.InvokeRequest,
        *,
        ledger: TaskLedger,
        deadline: float | None,
        metadata: Sequence[tuple[str, str]],
        on_chunk: OnChunk | None,
    ) -> agent_pb.InvokeResponse:
        """One turn of the invocation's conversation with its task; RemoteFailure if it fails."""
        client, card = self._client, self.card
        if client is None or card is None:
            raise RemoteFailure(grpc.StatusCode.UNAVAILABLE, f"the A2A agent {self.name!r} has no card yet")
        timeout = None if deadline is None else max(0.001, deadline - time.monotonic())
        context = self._context(metadata, timeout)
        exchange = Exchange(self, client, card.capabilities.streaming, request, ledger, context, on_chunk)
        try:
            async with asyncio.timeout(timeout):
                return await exchange.run()
        except (TimeoutError, A2AClientTimeoutError):
            if exchange.task_id:  # given up on: nobody will ask for its result
                await self.cancel_task(exchange.task_id)
            raise RemoteFailure(
                grpc.StatusCode.DEADLINE_EXCEEDED, f"the A2A agent {self.name!r} did not finish in time"
            ) from None
        except A2AError as exc:
            failure = failure_of(exc, self.name)
            if failure.code == grpc.StatusCode.UNAVAILABLE:
                self._recheck.set()  # is the agent still there? (its card says)
            raise failure from None

    def release(self, task_id: str) -> None:
        """Cancel a task nobody will wait on any more, in the background (best effort)."""
        self._spawn(self.cancel_task(task_id), f"a2a-cancel:{task_id}")

    async def cancel_task(self, task_id: str) -> None:
        """CancelTask, best effort: a task that ended or is unknown there is left as it is."""
        client = self._client
        if client is None:
            return
        try:
            async with asyncio.timeout(CANCEL_TIMEOUT):
                await client.cancel_task(a2a.CancelTaskRequest(id=task_id), context=self._context((), None))
            log.info("cancelled remote task", extra={"agent": self.name, "task_id": task_id})
        except (TaskNotCancelableError, TaskNotFoundError):
            pass
        except (A2AError, RemoteFailure, TimeoutError, OSError) as exc:
            log.warning(
                "cannot cancel remote task",
                extra={"agent": self.name, "task_id": task_id, "error": echo(exc, 300)},
            )

    def _context(self, metadata: Sequence[tuple[str, str]], timeout: float | None) -> ClientCallContext:
        parameters = dict(metadata)
        if auth := self._authorization():
            parameters["Authorization"] = auth
        return ClientCallContext(service_parameters=parameters, timeout=timeout)

    def _authorization(self) -> str:
        """`Bearer TOKEN` from the token file, read each time (a renewed token is used at once)."""
        if self.endpoint.token_file is None:
            return ""
        try:
            token = self.endpoint.token_file.read_text().strip()
        except OSError as exc:
            raise RemoteFailure(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"cannot read the token file of A2A agent {self.name!r}: {exc.strerror}",
                reason="TOKEN_FILE",
            ) from None
        return f"Bearer {token}" if token else ""

    def _spawn(self, work: Awaitable[None], name: str) -> None:
        async def run() -> None:
            await work

        task = asyncio.create_task(run(), name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


async def _close_later(client: Client) -> None:
    await asyncio.sleep(_OLD_CLIENT_GRACE_SECONDS)
    await client.close()
