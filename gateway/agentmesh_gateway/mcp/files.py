"""A run's files as MCP content: what a workflow tool's answer carries besides its outputs.

A workflow's outputs are JSON; the files its steps' agents replied with (StepCompleted.files)
come with the tool's answer after the outputs' text, in the order the steps completed: bytes as
an embedded resource (its text when the media type is textual and the bytes are UTF-8, else a
base64 blob), a URL as a resource link, as MCP's tool results carry files. An embedded resource
needs a URI, which bytes have not: theirs names the run, the step and the file
(agentmesh://runs/RUN/steps/STEP/files/N/FILENAME), as get_run's view lists them.

What one answer embeds is bounded (MAX_EMBEDDED_BYTES, MAX_FILES): a model reads the answer, and
megabytes of base64 are no use to it. Files past the bounds are left out, the answer saying how
many; GetRun has them all.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from mcp_types import (
    BlobResourceContents,
    EmbeddedResource,
    ResourceLink,
    TextContent,
    TextResourceContents,
)

from agentmesh.v1 import message_pb2, run_pb2
from agentmesh_gateway.limits import MiB

#: Bytes of files one answer embeds at most, and files (embedded or linked) it carries at most.
MAX_EMBEDDED_BYTES = 4 * MiB
MAX_FILES = 100
#: `_meta` keys of a file's content: the step that made it, its file name.
STEP_META, FILENAME_META = "agentmesh/step_id", "agentmesh/filename"
#: Media types, besides text/*, whose UTF-8 bytes are embedded as text.
_TEXTUAL = frozenset({"application/json", "application/xml", "application/yaml", "application/x-ndjson"})

FileContent = EmbeddedResource | ResourceLink


class RunFiles:
    """The files a run's steps made, gathered from its events while a tool call follows it (the
    stored run may lag its events)."""

    def __init__(self) -> None:
        self._files: list[tuple[str, int, message_pb2.Part]] = []

    def see(self, event: run_pb2.RunEvent, kind: str | None) -> None:
        # A step's completion carries all its files (a for_each step's, its items'): items are
        # not looked at, lest their files come twice.
        if kind == "step_completed" and not event.step_completed.HasField("item"):
            done = event.step_completed
            self._files.extend((done.step_id, index, file) for index, file in enumerate(done.files))

    def contents(self, run_id: str) -> list[FileContent | TextContent]:
        """The files as an answer's content, within its bounds; a note says what was left out."""
        contents: list[FileContent | TextContent] = []
        embedded = left_out = 0
        for step_id, index, file in self._files:
            size = len(file.raw)
            if len(contents) >= MAX_FILES or embedded + size > MAX_EMBEDDED_BYTES:
                left_out += 1
                continue
            embedded += size
            contents.append(file_content(run_id, step_id, index, file))
        if left_out:
            note = (
                f"{left_out} more files of run {run_id} were left out of this answer "
                "(too many or too large): GetRun has them."
            )
            contents.append(TextContent(text=note))
        return contents


def file_content(run_id: str, step_id: str, index: int, file: message_pb2.Part) -> FileContent:
    """One file as MCP content: a URL as a resource link, bytes as an embedded resource."""
    meta: dict[str, Any] = {STEP_META: step_id}
    if file.filename:
        meta[FILENAME_META] = file.filename
    mime_type = file.media_type or None
    if file.WhichOneof("content") == "url":
        return ResourceLink(name=file.filename or file.url, uri=file.url, mime_type=mime_type, _meta=meta)
    uri = file_uri(run_id, step_id, index, file.filename)
    text = _text(file)
    resource: TextResourceContents | BlobResourceContents
    if text is not None:
        resource = TextResourceContents(uri=uri, mime_type=mime_type, text=text)
    else:
        resource = BlobResourceContents(
            uri=uri, mime_type=mime_type, blob=base64.b64encode(file.raw).decode()
        )
    return EmbeddedResource(type="resource", resource=resource, _meta=meta)


def file_uri(run_id: str, step_id: str, index: int, filename: str) -> str:
    """The URI that names a step's file (bytes have no URI of their own)."""
    uri = f"agentmesh://runs/{quote(run_id, safe='')}/steps/{quote(step_id, safe='')}/files/{index}"
    return uri + (f"/{quote(filename, safe='')}" if filename else "")


def files_view(run_id: str, step: run_pb2.StepRun) -> list[dict[str, Any]]:
    """A step's files as get_run's view lists them: their names, types and sizes, not their bytes."""
    view = []
    for index, file in enumerate(step.files):
        entry: dict[str, Any] = {"filename": file.filename, "media_type": file.media_type}
        if file.WhichOneof("content") == "url":
            entry["url"] = file.url
        else:
            entry["uri"] = file_uri(run_id, step.step_id, index, file.filename)
            entry["size"] = len(file.raw)
        view.append(entry)
    return view


def _text(file: message_pb2.Part) -> str | None:
    """The file's bytes as text, if its media type says it is text and they are UTF-8."""
    media_type = file.media_type.split(";")[0].strip().lower()
    if not (media_type.startswith("text/") or media_type in _TEXTUAL or media_type.endswith("+json")):
        return None
    try:
        return file.raw.decode()
    except UnicodeDecodeError:
        return None
