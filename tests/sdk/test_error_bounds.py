"""Every error status is bounded in size, whatever the error holds, so it reaches the caller as itself."""

from __future__ import annotations

import logging

import grpc
from google.rpc import error_details_pb2, status_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from agentmesh.errors import AgentMeshError, FieldViolation, InvalidInput, NotFound
from agentmesh.messages import Message
from agentmesh.status import (
    MAX_ERROR_METADATA_ENTRIES,
    MAX_ERROR_METADATA_VALUE_BYTES,
    MAX_FIELD_PATH_BYTES,
    MAX_FIELD_VIOLATIONS,
    MAX_STATUS_DETAILS_BYTES,
    MAX_STATUS_MESSAGE_BYTES,
    MAX_VIOLATION_DESCRIPTION_BYTES,
    details_of,
    rpc_errors,
    to_status,
)
from agentmesh.v1 import agent_service_pb2 as pb
from agentmesh.v1 import agent_service_pb2_grpc as pb_grpc
from tests.support.rpc import Context, agent_service, hosted, log_records

# The message every request must carry (it is REQUIRED); its content does not matter here.
HELLO = Message.request({}).to_proto()

# grpc-message carries these bytes as they are and percent-encodes every other (gRPC's HTTP/2 spec).
PLAIN = frozenset(range(0x20, 0x7F)) - {ord("%")}


def grpc_message_length(message: str) -> int:
    return sum(1 if byte in PLAIN else 3 for byte in message.encode())


def status_of(status: grpc.Status) -> status_pb2.Status:
    (raw,) = [value for key, value in status.trailing_metadata if key == "grpc-status-details-bin"]
    assert isinstance(raw, bytes)
    return status_pb2.Status.FromString(raw)


async def refused(error: AgentMeshError) -> tuple[grpc.aio.AioRpcError, list[logging.LogRecord]]:
    """The error a server hosting an Invoke that fails with `error` answers, and what it logged."""

    async def invoke(request: pb.InvokeRequest, context: Context) -> pb.InvokeResponse:
        async with rpc_errors(context, "Invoke"):  # the one error path every servicer uses
            raise error

    with log_records("agentmesh.rpc") as records:
        async with hosted([agent_service(invoke=invoke)]) as server:
            try:
                await pb_grpc.AgentServiceStub(server.channel).Invoke(
                    pb.InvokeRequest(message=HELLO), timeout=10
                )
            except grpc.aio.AioRpcError as caught:
                return caught, records
    raise AssertionError("Invoke succeeded")


async def test_three_hundred_violations_with_long_names_arrive_as_invalid_argument() -> None:
    name = "n" * 5000
    violations = [FieldViolation(f"{name}.{i}", f"{name} is not allowed here ({i})") for i in range(300)]
    summary = "; ".join(f"{v.field}: {v.description}" for v in violations)
    error = InvalidInput(f"invalid input: {summary}", violations, metadata={"input": name})

    caught, records = await refused(error)

    assert caught.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = details_of(caught)
    assert details.reason == "INVALID_INPUT"
    assert details.message.startswith("invalid input: nnn") and details.message.endswith("…")
    assert grpc_message_length(caught.details() or "") <= MAX_STATUS_MESSAGE_BYTES
    assert len(details.metadata["input"].encode()) <= MAX_ERROR_METADATA_VALUE_BYTES
    *kept, last = details.violations
    assert 1 <= len(kept) <= MAX_FIELD_VIOLATIONS
    assert all(v.field.startswith("nnn") and v.field.endswith("…") for v in kept)
    assert all(len(v.field.encode()) <= MAX_FIELD_PATH_BYTES for v in kept)
    assert all(len(v.description.encode()) <= MAX_VIOLATION_DESCRIPTION_BYTES for v in kept)
    assert last.description == f"{300 - len(kept)} more field violations left out"
    trailer = dict(caught.trailing_metadata() or ())["grpc-status-details-bin"]
    assert isinstance(trailer, bytes) and len(trailer) <= MAX_STATUS_DETAILS_BYTES
    # The server's log line repeats the bounded message, not the one the error was built with.
    (line,) = [r for r in records if r.getMessage() == "rpc failed"]
    assert line.__dict__["error"] == details.message


async def test_a_long_message_outside_ascii_is_cut_to_what_grpc_message_can_carry() -> None:
    caught, _ = await refused(NotFound("ни одного запуска " * 400 + "🙂" * 400))
    assert caught.code() == grpc.StatusCode.NOT_FOUND
    message = caught.details() or ""
    assert message.startswith("ни одного запуска ни") and message.endswith("…")
    assert grpc_message_length(message) <= MAX_STATUS_MESSAGE_BYTES
    assert details_of(caught).message == message


texts = st.one_of(
    st.text(st.characters() | st.characters(categories=["Cs"])),  # lone surrogates too
    st.builds(lambda piece, times: piece * times, st.text(min_size=1, max_size=4), st.integers(1, 3000)),
)
violations = st.lists(st.builds(FieldViolation, texts, texts), max_size=400)
metadata = st.dictionaries(texts, texts, max_size=40)
wild = st.one_of(
    st.builds(lambda m, r, md: AgentMeshError(m, reason=r, metadata=md), texts, texts, metadata),
    st.builds(lambda m, v, md: InvalidInput(m, v, metadata=md), texts, violations, metadata),
)
# Errors within every bound: printable ASCII messages, a few short violations, one metadata entry.
small = st.builds(
    lambda m, v: InvalidInput(m, v, metadata={"run_id": "r-1"}),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="%"), max_size=200),
    st.lists(st.builds(FieldViolation, st.text(max_size=20), st.text(max_size=40)), max_size=10),
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.one_of(wild, small))
def test_any_error_fits_the_bounds_and_a_small_one_is_sent_whole(error: AgentMeshError) -> None:
    status = to_status(error)
    proto = status_of(status)
    assert proto.ByteSize() <= MAX_STATUS_DETAILS_BYTES
    assert grpc_message_length(status.details) <= MAX_STATUS_MESSAGE_BYTES
    assert proto.message == status.details
    info = error_details_pb2.ErrorInfo()
    assert proto.details[0].Unpack(info)
    assert len(info.metadata) <= MAX_ERROR_METADATA_ENTRIES
    assert info.domain == "agentmesh"
    sent: list[error_details_pb2.BadRequest.FieldViolation] = []
    if isinstance(error, InvalidInput) and error.violations:
        bad = error_details_pb2.BadRequest()
        assert proto.details[1].Unpack(bad)
        sent = list(bad.field_violations)
        assert len(sent) <= MAX_FIELD_VIOLATIONS + 1
        # Either every violation is sent, or those sent end with one counting the rest.
        rest = f"{len(error.violations) - len(sent) + 1:,} more field violations left out"
        assert (sent[-1].field, sent[-1].description) == ("", rest) or len(sent) == len(error.violations)
    if error.metadata == {"run_id": "r-1"}:  # one of the small ones: nothing cut, nothing left out
        assert isinstance(error, InvalidInput)
        assert proto.message == error.message
        assert (info.reason, dict(info.metadata)) == (error.reason, error.metadata)
        assert [FieldViolation(v.field, v.description) for v in sent] == list(error.violations)
