"""What the A2A TCK (a2aproject/a2a-tck, `make a2a-tck`) found the gateway doing against the spec,
each checked here with a2a-sdk's client: a request lacking a field the proto marks REQUIRED is
InvalidParams (it started a run); JSON-RPC answers at its URL with a trailing slash, where a
client joining paths onto the card's URL posts; cards carry the caching headers of §8.6.1; a gRPC
call naming a version of A2A the gateway does not speak is refused (it was served)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import grpc
import httpx
import pytest
from a2a.client import A2ACardResolver, ClientConfig, create_client
from a2a.client.errors import A2AClientError
from a2a.types import a2a_pb2 as a2a
from a2a.types import a2a_pb2_grpc
from a2a.utils.errors import InvalidParamsError
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from agentmesh.client import Client as MeshClient
from tests.a2a.conftest import A2AGateway, message
from tests.a2a.test_a2a_server import final_task, send

PROBE = "/a2a/agents/probe"


@contextmanager
def refused_as_invalid(binding: str) -> Iterator[None]:
    """InvalidParams; on gRPC, a request lacking a REQUIRED field of its own is refused by the
    gateway's host before A2A's handler runs: INVALID_ARGUMENT with the fields in a BadRequest,
    as A2A's gRPC binding shows it (§10.6), which a2a-sdk's client raises as A2AClientError."""
    with pytest.raises((InvalidParamsError, A2AClientError)) as raised:
        yield
    if not isinstance(raised.value, InvalidParamsError):
        assert binding == "GRPC" and "INVALID_ARGUMENT: missing required field" in str(raised.value)


async def run_count(served: A2AGateway) -> int:
    async with await MeshClient.connect(f"127.0.0.1:{served.process.port}") as mesh:
        return len([run async for run in mesh.list_runs()])


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param(a2a.SendMessageRequest(), id="no-message"),
        pytest.param(
            a2a.SendMessageRequest(message=a2a.Message(role=a2a.ROLE_USER, parts=[a2a.Part(text="hi")])),
            id="no-message-id",
        ),
        pytest.param(
            a2a.SendMessageRequest(message=a2a.Message(message_id="no-parts", role=a2a.ROLE_USER)),
            id="no-parts",
        ),
    ],
)
async def test_a_message_without_a_required_field_is_refused_and_starts_nothing(
    served: A2AGateway, binding: str, request_: a2a.SendMessageRequest
) -> None:
    before = await run_count(served)
    for streaming in (False, True):
        client = await served.client(binding, streaming=streaming)
        try:
            with refused_as_invalid(binding):
                await send(client, request_)
        finally:
            await client.close()
    assert await run_count(served) == before


@pytest.mark.parametrize("binding_", ["JSONRPC", "GRPC"])  # HTTP+JSON has the id in its path
async def test_a_task_request_without_its_id_is_invalid_params(served: A2AGateway, binding_: str) -> None:
    client = await served.client(binding_)
    try:
        with refused_as_invalid(binding_):
            await client.get_task(a2a.GetTaskRequest())
        with refused_as_invalid(binding_):
            await client.cancel_task(a2a.CancelTaskRequest())
    finally:
        await client.close()


async def test_jsonrpc_answers_at_its_url_with_a_trailing_slash(served: A2AGateway) -> None:
    async with httpx.AsyncClient(timeout=60) as http:
        card = await A2ACardResolver(http, f"{served.http}{PROBE}").get_agent_card()
        for interface in card.supported_interfaces:
            interface.url += "/" if interface.protocol_binding == "JSONRPC" else ""
        config = ClientConfig(supported_protocol_bindings=["JSONRPC"], httpx_client=http)
        client = await create_client(card, client_config=config)
        request = a2a.SendMessageRequest(
            message=message({"key": "slash", "value": 1}, metadata={"skill": "echo"})
        )
        task = final_task(await send(client, request))
    assert task.status.state == a2a.TASK_STATE_COMPLETED


@pytest.mark.parametrize("path", ["", PROBE, "/a2a/workflows/greet-twice"])
async def test_cards_say_how_long_to_keep_them_when_they_changed_and_revalidate_by_etag(
    served: A2AGateway, path: str
) -> None:
    seen: list[httpx.Response] = []

    async def keep(response: httpx.Response) -> None:
        seen.append(response)

    async with httpx.AsyncClient(timeout=30, event_hooks={"response": [keep]}) as http:
        card = await A2ACardResolver(http, f"{served.http}{path}").get_agent_card()
        assert card.supported_interfaces
        headers = seen[-1].headers
        assert headers["cache-control"] == "max-age=60"
        etag = headers["etag"]
        assert etag.startswith('"') and etag.endswith('"')
        url = f"{served.http}{path}/.well-known/agent-card.json"
        unchanged = await http.get(url, headers={"If-None-Match": f'"other", W/{etag}'})
        assert (unchanged.status_code, unchanged.content, unchanged.headers["etag"]) == (304, b"", etag)
        again = await http.get(url, headers={"If-None-Match": '"other"'})
        assert again.status_code == 200
        # When this content was first served: the same while it is unchanged, never in the future.
        modified = parsedate_to_datetime(headers["last-modified"])
        assert (
            again.headers["last-modified"] == unchanged.headers["last-modified"] == headers["last-modified"]
        )
        assert modified <= datetime.now(UTC)


@pytest.mark.parametrize("version", [None, "0.3", "99.0"])
async def test_a_grpc_call_for_a_version_it_does_not_speak_is_refused(
    served: A2AGateway, version: str | None
) -> None:
    """With a2a-sdk's stub: its client always says 1.0. No version at all means 0.3 (§3.6.2)."""

    async def get_task(metadata: tuple[tuple[str, str], ...]) -> grpc.StatusCode:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{served.process.port}") as channel:
            stub = a2a_pb2_grpc.A2AServiceStub(channel)  # type: ignore[no-untyped-call]
            request = a2a.GetTaskRequest(id="no-such-task", tenant="agents/probe")
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await stub.GetTask(request, metadata=metadata)
        status = rpc_status.from_call(failed.value)  # type: ignore[arg-type]
        assert status is not None
        info = error_details_pb2.ErrorInfo()
        assert status.details[0].Unpack(info) and info.domain == "a2a-protocol.org"
        reasons[failed.value.code()] = info.reason
        return failed.value.code()

    reasons: dict[grpc.StatusCode, str] = {}
    assert await get_task((("a2a-version", "1.0"),)) == grpc.StatusCode.NOT_FOUND
    assert await get_task(() if version is None else (("a2a-version", version),)) == (
        grpc.StatusCode.FAILED_PRECONDITION
    )
    assert reasons == {
        grpc.StatusCode.NOT_FOUND: "TASK_NOT_FOUND",
        grpc.StatusCode.FAILED_PRECONDITION: "VERSION_NOT_SUPPORTED",
    }
