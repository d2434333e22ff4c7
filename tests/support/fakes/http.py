"""A scripted HTTP server on 127.0.0.1, the base of the fake LLM APIs.

Each fake speaks its API's real wire format so the real SDK runs against it. A
test queues the replies it wants; every request received is recorded.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Canned:
    """One reply: a JSON body, or server-sent events when `events` is set."""

    status: int = 200
    body: Any = None
    events: list[str] | None = None
    headers: dict[str, str] = field(default_factory=dict)


class FakeHTTPServer:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._replies: list[Canned] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length)
                body = json.loads(raw) if raw else None
                with fake._lock:
                    fake.requests.append(Recorded("POST", self.path, dict(self.headers), body))
                    reply = fake._replies.pop(0) if fake._replies else fake.default_reply(self.path, body)
                self._send(reply)

            def _send(self, reply: Canned) -> None:
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                if reply.events is not None:
                    self.send_header("content-type", "text/event-stream")
                    self.end_headers()
                    for event in reply.events:
                        self.wfile.write(f"data: {event}\n\n".encode())
                        self.wfile.flush()
                    return
                payload = json.dumps(reply.body).encode()
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def queue(self, *replies: Canned) -> None:
        with self._lock:
            self._replies.extend(replies)

    def default_reply(self, path: str, body: Any) -> Canned:
        return Canned(status=404, body={"error": {"message": f"no reply queued for {path}"}})

    def chunks(self, text: str, size: int = 5) -> Iterator[str]:
        for i in range(0, len(text), size):
            yield text[i : i + size]
