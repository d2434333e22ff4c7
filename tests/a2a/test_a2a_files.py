"""Files through the gateway's A2A surface, with a2a-sdk's client on all three bindings: an agent's
reply with files is a task whose artifact carries A2A file parts (`raw`, `url`, each with its
filename and mediaType), streamed or not, and again from GetTask; a workflow's step's files are an
artifact of the workflow's task of their own."""

from __future__ import annotations

import pytest
from a2a.types import a2a_pb2 as a2a

from tests.a2a.conftest import A2AGateway, message
from tests.a2a.test_a2a_server import final_task, send

URL = "https://example.com/chart.png"


def files_in(artifacts: list[a2a.Artifact]) -> list[tuple[str, bytes | str, str, str]]:
    """The artifacts' file parts as (kind, content, mediaType, filename)."""
    return [
        (
            str(part.WhichOneof("content")),
            part.raw if part.HasField("raw") else part.url,
            part.media_type,
            part.filename,
        )
        for artifact in artifacts
        for part in artifact.parts
        if part.WhichOneof("content") in ("raw", "url")
    ]


@pytest.mark.parametrize("streaming", [True, False], ids=["streamed", "sent"])
async def test_an_agents_files_are_file_parts_of_its_tasks_artifact(
    served: A2AGateway, binding: str, streaming: bool
) -> None:
    client = await served.client(binding, streaming=streaming)
    key = f"files-{binding}-{streaming}"
    data = {"key": key, "content": "a report", "filename": "report.txt", "url": URL}
    try:
        task = final_task(
            await send(client, a2a.SendMessageRequest(message=message(data, metadata={"skill": "file"})))
        )
        got = await client.get_task(a2a.GetTaskRequest(id=task.id))
    finally:
        await client.close()
    assert task.status.state == a2a.TASK_STATE_COMPLETED
    expected = [("raw", b"a report", "text/plain", "report.txt"), ("url", URL, "text/plain", "report.txt")]
    for seen in (task, got):
        assert [a.artifact_id for a in seen.artifacts] == ["outputs"]
        # The agent's answer as it answered: its text, its data, then its files.
        kinds = [p.WhichOneof("content") for p in seen.artifacts[0].parts]
        assert kinds == ["text", "data", "raw", "url"]
        assert files_in(list(seen.artifacts)) == expected


async def test_a_workflows_step_files_are_an_artifact_of_its_task(served: A2AGateway, binding: str) -> None:
    client = await served.client(binding, "/a2a/workflows/make-files")
    try:
        responses = await send(client, a2a.SendMessageRequest(message=message({"key": f"made-{binding}"})))
        task = final_task(responses)
        got = await client.get_task(a2a.GetTaskRequest(id=task.id))
    finally:
        await client.close()
    assert task.status.state == a2a.TASK_STATE_COMPLETED
    made = [
        ("raw", b"made", "text/plain", "made.txt"),
        ("url", "https://example.com/made.txt", "text/plain", "made.txt"),
    ]
    # Streamed as the step completes, before the run's outputs.
    streamed = [r.artifact_update.artifact for r in responses if r.HasField("artifact_update")]
    assert [a.artifact_id for a in streamed] == ["make-files", "outputs"]
    assert files_in(streamed) == made
    assert [a.artifact_id for a in got.artifacts] == ["outputs", "make-files"]
    assert files_in(list(got.artifacts)) == made
