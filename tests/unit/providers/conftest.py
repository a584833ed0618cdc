"""A scripted HTTP server on a loopback port, so the real SDK and our provider run end to end.

Each test queues the answers it wants per route (``server.answer("POST", "/files", 500, {...})``);
a route with nothing queued answers with its default, if one was set, or 599. Every request is
recorded (method, path, query, headers, body size), so tests can count calls and check headers.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from core.config import Settings
from core.providers.openai import OpenAIProvider


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body_bytes: int
    at: float


class ScriptedServer:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._queues: dict[tuple[str, str], deque[Answer]] = defaultdict(deque)
        self._defaults: dict[tuple[str, str], Callable[[Call], Answer]] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def answer(self, method: str, path: str, status: int, body: Any, *, headers: dict[str, str] | None = None,
               times: int = 1, delay: float = 0.0) -> None:
        with self._lock:
            for _ in range(times):
                self._queues[(method, path)].append(Answer(status, body, dict(headers or {}), delay))

    def default(self, method: str, path: str, make: Callable[[Call], Answer]) -> None:
        self._defaults[(method, path)] = make

    def calls_to(self, method: str, path: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path == path]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _next(self, call: Call) -> Answer:
        with self._lock:
            self.calls.append(call)
            queue = self._queues.get((call.method, call.path))
            if queue:
                return queue.popleft()
        make = self._defaults.get((call.method, call.path))
        if make is not None:
            return make(call)
        return Answer(599, {"error": {"message": f"nothing scripted for {call.method} {call.path}"}})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:  # keep test output quiet
                return

            def _read_body(self) -> int:
                length = self.headers.get("Content-Length")
                if length is not None:  # read in chunks: upload tests measure the process's memory
                    remaining = int(length)
                    while remaining:
                        chunk = self.rfile.read(min(remaining, 1 << 16))
                        if not chunk:
                            break
                        remaining -= len(chunk)
                    return int(length) - remaining
                total = 0
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    while True:
                        size = int(self.rfile.readline().strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return total
                        total += len(self.rfile.read(size))
                        self.rfile.readline()
                return total

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                call = Call(self.command, parts.path, parse_qs(parts.query), headers, self._read_body(),
                            time.monotonic())
                answer = server._next(call)
                if answer.delay:
                    time.sleep(answer.delay)
                payload = json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out first
                    pass

            do_GET = do_POST = do_DELETE = _serve

        return Handler


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer()
    yield scripted
    scripted.close()


FAST_RETRIES = {
    "provider_max_attempts": 4,
    "provider_backoff_initial_seconds": 0.01,
    "provider_backoff_max_seconds": 0.05,
    "provider_retry_after_max_seconds": 5.0,
    "provider_retry_budget_seconds": 10.0,
    "provider_timeout_seconds": 5.0,
}


@pytest.fixture
def make_provider(server: ScriptedServer) -> Iterator[Callable[..., OpenAIProvider]]:
    """Providers pointed at the scripted server; ``sleeps`` records every backoff instead of waiting
    when ``record_sleeps=True`` (the waits themselves are the thing under test there)."""
    made: list[OpenAIProvider] = []

    def make(*, api_key: str = "sk-test-0123456789abcdefXYZ", sleeps: list[float] | None = None,
             base_url: str | None = None, **overrides: Any) -> OpenAIProvider:
        settings = Settings(openai_api_key=api_key, openai_base_url=base_url or f"{server.url}/v1",
                            **{**FAST_RETRIES, **overrides})
        provider = OpenAIProvider.from_settings(settings, sleep=sleeps.append if sleeps is not None else time.sleep)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()
