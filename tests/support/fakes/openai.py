"""A fake OpenAI-compatible server (/v1/chat/completions) speaking its real JSON and SSE wire format."""

from __future__ import annotations

import json

from tests.support.fakes.http import Canned, FakeHTTPServer


class FakeOpenAI(FakeHTTPServer):
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def answer(self, text: str, *, prompt_tokens: int = 13, output_tokens: int = 5) -> None:
        self.queue(
            Canned(
                body={
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": 1_700_000_000,
                    "model": "fake-model",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": _usage(prompt_tokens, output_tokens),
                }
            )
        )

    def stream(self, text: str, *, prompt_tokens: int = 13, output_tokens: int = 5) -> None:
        events = [json.dumps(_chunk({"content": piece}, None)) for piece in self.chunks(text)]
        events.append(json.dumps({**_chunk({}, "stop")}))
        # With stream_options.include_usage the server ends with a chunk that has usage and no choices.
        events.append(
            json.dumps({**_chunk(None, None), "choices": [], "usage": _usage(prompt_tokens, output_tokens)})
        )
        events.append("[DONE]")
        self.queue(Canned(events=events))

    def fail(self, status: int, message: str = "fake failure", headers: dict[str, str] | None = None) -> None:
        error = {"message": message, "type": "rate_limit_error" if status == 429 else "invalid_request_error"}
        self.queue(Canned(status=status, body={"error": error}, headers=headers or {}))


def _chunk(delta: dict[str, str] | None, finish: str | None) -> dict[str, object]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "fake-model",
        "choices": choices,
    }


def _usage(prompt_tokens: int, output_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": output_tokens,
        "total_tokens": prompt_tokens + output_tokens,
    }
