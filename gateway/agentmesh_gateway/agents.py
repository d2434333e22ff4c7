"""The agents the gateway calls: replicas, their health (followed with Health.Watch), load sharing.

Each configured address gets one long-lived channel and a watcher task. A call
goes to the next SERVING replica in round-robin order; when none is SERVING it
waits for one, within the caller's deadline, instead of failing at once. A
`dns:///` address is one channel that balances over everything the name resolves
to (round_robin, with grpc's client-side health checking).

An agent whose address is an HTTP(S) URL is an A2A agent, reached by its card
(`agentmesh_gateway.remote`): one "replica", its card URL, SERVING while the card
fetches; a call to it is a task there, which the run records so that a resumed
attempt re-attaches to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager

import grpc

from agentmesh import health
from agentmesh.channels import message_size_options
from agentmesh.errors import AgentMeshError
from agentmesh.status import details_of
from agentmesh.tls import ClientTLS
from agentmesh.v1 import agent_service_pb2 as agent_pb
from agentmesh.v1 import agent_service_pb2_grpc as agent_grpc
from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh_gateway.config import ConfigError
from agentmesh_gateway.remote.agent import RemoteAgent
from agentmesh_gateway.remote.endpoint import A2AEndpoint, is_a2a_address
from agentmesh_gateway.remote.task import RemoteFailure, TaskLedger
from agentmesh_gateway.throttle import AgentLimits, OnWait, Throttle

log = logging.getLogger("agentmesh.gateway.agents")

_RECONNECT_MIN, _RECONNECT_MAX = 0.1, 2.0
_RECONNECT_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
]
_DNS_SERVICE_CONFIG = json.dumps(
    {"loadBalancingConfig": [{"round_robin": {}}], "healthCheckConfig": {"serviceName": ""}}
)

OnChunk = Callable[[str], Awaitable[None]]


class CallFailure(Exception):
    """An agent call failed; `code` says whether it is worth retrying, `retry_delay` (RetryInfo,
    seconds) when the agent said how long to wait."""

    def __init__(
        self, code: grpc.StatusCode, message: str, reason: str = "", retry_delay: float | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.retry_delay = retry_delay

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"


# How often the gateway looks at its TLS files for a renewed client certificate or CA, and how
# long calls on a channel made with the old ones get to finish.
TLS_CHECK_SECONDS = 5.0
_OLD_CHANNEL_GRACE_SECONDS = 600.0


class Replica:
    def __init__(self, agent: str, address: str, tls: ClientTLS | None = None) -> None:
        self.agent = agent
        self.address = address
        self.channel = self._connect(tls.credentials() if tls is not None else None)
        self.stub = agent_grpc.AgentServiceStub(self.channel)
        self.health: pb.ReplicaHealth.ValueType = pb.REPLICA_HEALTH_UNKNOWN
        self._retired: set[asyncio.Task[None]] = set()

    def _connect(self, credentials: grpc.ChannelCredentials | None) -> grpc.aio.Channel:
        # grpc's default reconnect backoff starts at 1 s: an agent that comes up just after the
        # gateway (as under `agentmesh up`) or restarts would sit unused for that long.
        options = [*message_size_options(), *_RECONNECT_OPTIONS]
        if self.address.startswith("dns:///"):
            options.append(("grpc.service_config", _DNS_SERVICE_CONFIG))
        if credentials is None:
            return grpc.aio.insecure_channel(self.address, options=options)
        return grpc.aio.secure_channel(self.address, credentials, options=options)

    def reconnect(self, credentials: grpc.ChannelCredentials) -> None:
        """New calls go over a channel with `credentials`; calls on the old one get time to finish."""
        old, self.channel = self.channel, self._connect(credentials)
        self.stub = agent_grpc.AgentServiceStub(self.channel)
        task = asyncio.create_task(old.close(_OLD_CHANNEL_GRACE_SECONDS), name=f"retire:{self.address}")
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)

    async def close(self) -> None:
        await asyncio.gather(self.channel.close(), *self._retired, return_exceptions=True)


class AgentPool:
    """The replicas of one agent."""

    def __init__(self, name: str, addresses: Sequence[str], tls: ClientTLS | None = None) -> None:
        self.name = name
        self.replicas = [Replica(name, address, tls) for address in addresses]
        self.card: agent_pb.AgentCard | None = None
        self._next = 0
        self._changed = asyncio.Condition()
        self._watchers: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._watchers = [
            asyncio.create_task(self._watch(r), name=f"health:{r.address}") for r in self.replicas
        ]

    async def stop(self) -> None:
        for task in self._watchers:
            task.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)
        await asyncio.gather(*(r.close() for r in self.replicas))

    def reconnect(self, credentials: grpc.ChannelCredentials) -> None:
        """Every replica over a new channel, its health followed there from now on."""
        for task in self._watchers:
            task.cancel()
        for replica in self.replicas:
            replica.reconnect(credentials)
        self.start()

    def streams(self, skill: str) -> bool:
        """Whether `skill` (empty: the agent's first) streams its output, as the card says."""
        if self.card is None:
            return False
        skills = [s for s in self.card.skills if s.id == skill] if skill else list(self.card.skills[:1])
        return bool(skills) and skills[0].streaming

    def serving(self) -> list[Replica]:
        return [r for r in self.replicas if r.health == pb.REPLICA_HEALTH_SERVING]

    async def pick(self, deadline: float | None) -> Replica:
        """The next SERVING replica, round-robin, waiting for one until `deadline` (monotonic)."""
        async with self._changed:
            while not (ready := self.serving()):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise CallFailure(grpc.StatusCode.UNAVAILABLE, f"no replica of {self.name!r} is SERVING")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)
            self._next += 1
            return ready[self._next % len(ready)]

    async def _set_health(self, replica: Replica, status: pb.ReplicaHealth.ValueType) -> None:
        if replica.health == status:
            return
        if status == pb.REPLICA_HEALTH_SERVING and self.card is None:
            # The card first: it says whether the agent streams, and ListAgents should never
            # show a SERVING agent without one.
            with contextlib.suppress(grpc.aio.AioRpcError):
                self.card = (await replica.stub.GetAgentCard(agent_pb.GetAgentCardRequest(), timeout=5)).card
        log.info(
            "replica health",
            extra={"agent": self.name, "address": replica.address, "health": pb.ReplicaHealth.Name(status)},
        )
        replica.health = status
        async with self._changed:
            self._changed.notify_all()

    async def _watch(self, replica: Replica) -> None:
        """Follow Health.Watch for as long as the gateway runs, reconnecting with backoff."""
        pause = _RECONNECT_MIN
        while True:
            try:
                async for status in health.watch(replica.channel):
                    pause = _RECONNECT_MIN
                    serving = status == health.SERVING
                    await self._set_health(
                        replica, pb.REPLICA_HEALTH_SERVING if serving else pb.REPLICA_HEALTH_NOT_SERVING
                    )
            except grpc.aio.AioRpcError:
                pass
            await self._set_health(replica, pb.REPLICA_HEALTH_UNKNOWN)
            await asyncio.sleep(pause)
            pause = min(pause * 2, _RECONNECT_MAX)


class AgentDirectory:
    """Every configured agent, by name."""

    def __init__(
        self,
        agents: Mapping[str, Sequence[str]],
        tls: ClientTLS | None = None,
        limits: Mapping[str, AgentLimits] | None = None,
    ) -> None:
        """`tls`: call agents over TLS, trusting its CA and presenting its certificate if asked.
        An agent whose one address is an HTTP(S) URL is an A2A agent (`remote`); the TLS of its
        card's URL is its own (`A2AEndpoint.tls_ca`). `limits`: agents' concurrency and rate
        limits (see `throttle`)."""
        self._tls = tls
        self._throttles = {name: Throttle(limit) for name, limit in (limits or {}).items() if limit.limited}
        self._tls_version = tls.version() if tls is not None else ()
        self._pools: dict[str, AgentPool] = {}
        self._remotes: dict[str, RemoteAgent] = {}
        for name, addresses in agents.items():
            if any(is_a2a_address(address) for address in addresses):
                if len(addresses) != 1:
                    raise ConfigError(f"agent {name!r}: an A2A agent has one address, its card's URL")
                try:
                    endpoint = A2AEndpoint.of(addresses[0])
                except ValueError as exc:
                    raise ConfigError(f"agent {name!r}: {exc}") from None
                self._remotes[name] = RemoteAgent(name, endpoint)
            else:
                self._pools[name] = AgentPool(name, addresses, tls)
        self._tls_watcher: asyncio.Task[None] | None = None

    @property
    def names(self) -> list[str]:
        return [*self._pools, *self._remotes]

    def is_remote(self, agent: str) -> bool:
        """Whether `agent` is an A2A agent (its calls are tasks there, see `remote`)."""
        return agent in self._remotes

    def start(self) -> None:
        for pool in self._pools.values():
            pool.start()
        for remote in self._remotes.values():
            remote.start()
        if self._tls is not None:
            self._tls_watcher = asyncio.create_task(self._follow_tls(self._tls), name="agent-tls")

    async def stop(self) -> None:
        if self._tls_watcher is not None:
            self._tls_watcher.cancel()
            await asyncio.gather(self._tls_watcher, return_exceptions=True)
        await asyncio.gather(
            *(pool.stop() for pool in self._pools.values()),
            *(remote.stop() for remote in self._remotes.values()),
        )

    async def _follow_tls(self, tls: ClientTLS) -> None:
        """Renewed client certificate or CA files: new channels (grpc cannot change a live one's)."""
        while True:
            await asyncio.sleep(TLS_CHECK_SECONDS)
            version = tls.version()
            if version == self._tls_version:
                continue
            try:
                credentials = tls.credentials()
            except ValueError as exc:
                log.warning("cannot reload the TLS files; keeping the channels", extra={"error": str(exc)})
                continue
            self._tls_version = version
            for pool in self._pools.values():
                pool.reconnect(credentials)
            log.info("reconnecting to agents with renewed TLS files", extra={"ca": str(tls.ca)})

    def statuses(self) -> list[pb.AgentStatus]:
        return [
            *(
                pb.AgentStatus(
                    name=pool.name,
                    replicas=[pb.Replica(address=r.address, health=r.health) for r in pool.replicas],
                    card=pool.card,
                )
                for pool in self._pools.values()
            ),
            *(remote.status() for remote in self._remotes.values()),
        ]

    async def pick(self, agent: str, deadline: float | None) -> Replica | RemoteAgent:
        """A SERVING replica of `agent` for the next call (an A2A agent is its own one), waiting
        for one until `deadline`."""
        remote = self._remotes.get(agent)
        if remote is not None:
            try:
                return await remote.pick(deadline)
            except RemoteFailure as failure:
                raise CallFailure(failure.code, failure.message, failure.reason) from None
        pool = self._pools.get(agent)
        if pool is None:
            raise AgentMeshError(f"unknown agent {agent!r}", reason="UNKNOWN_AGENT")
        return await pool.pick(deadline)

    def slot(self, agent: str, on_wait: OnWait) -> AbstractAsyncContextManager[None]:
        """A place for one call to `agent` under its limits (`on_wait` is awaited if it must wait)."""
        throttle = self._throttles.get(agent)
        return throttle.slot(on_wait) if throttle is not None else contextlib.nullcontext()

    def share_limits(self, replicas: int) -> None:
        """This gateway is one of `replicas` live replicas: it keeps its share of every limit."""
        for throttle in self._throttles.values():
            throttle.share(replicas)

    def release(self, agent: str, task_id: str) -> None:
        """The run no longer waits on this task of the A2A agent `agent`: cancel it (in the
        background, best effort)."""
        remote = self._remotes.get(agent)
        if remote is not None:
            remote.release(task_id)

    async def call(
        self,
        replica: Replica | RemoteAgent,
        request: agent_pb.InvokeRequest,
        *,
        deadline: float | None,
        metadata: Sequence[tuple[str, str]],
        on_chunk: OnChunk | None,
        ledger: TaskLedger | None = None,
    ) -> agent_pb.InvokeResponse:
        """Call the replica; failures come back as CallFailure with the agent's code. An A2A
        agent needs the `ledger` of the invocation's remote task."""
        if isinstance(replica, RemoteAgent):
            if ledger is None:
                raise ValueError(f"a call to the A2A agent {replica.name!r} needs the invocation's ledger")
            try:
                return await replica.call(
                    request, ledger=ledger, deadline=deadline, metadata=metadata, on_chunk=on_chunk
                )
            except RemoteFailure as failure:
                raise CallFailure(failure.code, failure.message, failure.reason) from None
        timeout = None if deadline is None else max(0.001, deadline - time.monotonic())
        try:
            if on_chunk is not None and self._pools[replica.agent].streams(request.skill):
                return await _stream(replica, request, timeout, metadata, on_chunk)
            return await replica.stub.Invoke(request, timeout=timeout, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            details = details_of(exc)
            raise CallFailure(details.code, details.message, details.reason, details.retry_delay) from None


async def _stream(
    replica: Replica,
    request: agent_pb.InvokeRequest,
    timeout: float | None,
    metadata: Sequence[tuple[str, str]],
    on_chunk: OnChunk,
) -> agent_pb.InvokeResponse:
    stream_request = agent_pb.InvokeStreamRequest(
        message=request.message, skill=request.skill, history=request.history
    )
    async for event in replica.stub.InvokeStream(stream_request, timeout=timeout, metadata=metadata):
        if event.WhichOneof("event") == "chunk":
            await on_chunk(event.chunk.text)
        else:
            return event.result
    raise CallFailure(grpc.StatusCode.INTERNAL, f"{replica.address} ended its stream without a result")
