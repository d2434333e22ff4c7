"""A fake Gemini API (generativelanguage v1beta) speaking its real JSON and SSE wire format."""

from __future__ import annotations

import json

from tests.support.fakes.http import Canned, FakeHTTPServer

STATUS_NAMES = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}


class FakeGemini(FakeHTTPServer):
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, text: str, *, prompt_tokens: int = 11, output_tokens: int = 7) -> None:
        self.queue(Canned(body=_response(text, prompt_tokens, output_tokens)))

    def stream(self, text: str, *, prompt_tokens: int = 11, output_tokens: int = 7) -> None:
        pieces = list(self.chunks(text))
        events = [json.dumps(_response(p, None, None)) for p in pieces[:-1]]
        events.append(json.dumps(_response(pieces[-1], prompt_tokens, output_tokens)))
        self.queue(Canned(events=events))

    def fail(self, status: int, message: str = "fake failure") -> None:
        error = {"code": status, "message": message, "status": STATUS_NAMES.get(status, "UNKNOWN")}
        self.queue(Canned(status=status, body={"error": error}))


def _response(text: str, prompt_tokens: int | None, output_tokens: int | None) -> dict[str, object]:
    body: dict[str, object] = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}
        ],
        "modelVersion": "gemini-fake",
    }
    if prompt_tokens is not None and output_tokens is not None:
        body["usageMetadata"] = {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": output_tokens,
            "totalTokenCount": prompt_tokens + output_tokens,
        }
    return body
