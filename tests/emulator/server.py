"""Run the emulator on a real uvicorn server in a background thread, for any test suite.

Usage from another suite's ``conftest.py``::

    from tests.emulator.server import emulator_server  # noqa: F401  (a pytest fixture)

    def test_something(emulator_server):
        emu = emulator_server(EmulatorSettings(api_key="sk-test"))
        client = emu.client()            # openai.OpenAI pointed at emu.base_url
        emu.state.inject("/files", 429, count=1)

or, outside pytest, ``with serve_emulator(settings) as emu: ...``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai
import pytest
import together
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator import EmulatorSettings, EmulatorState, create_app

DEFAULT_TEST_KEY = "sk-emulator-test"


@dataclass(frozen=True)
class Exchange:
    """One response the emulator sent, as the wire carried it."""

    method: str
    path: str  # the full path, prefix included
    status: int
    content_type: str
    body: bytes


class ResponseRecorder:
    """ASGI middleware that keeps every response body, so tests can validate all of them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0
        content_type = ""
        chunks: list[bytes] = []

        async def recording_send(message: Message) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = message["status"]
                for key, value in message.get("headers", []):
                    if key.lower() == b"content-type":
                        content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            if status:
                with self._lock:
                    self.exchanges.append(Exchange(scope["method"], scope["path"], status, content_type,
                                                   b"".join(chunks)))


@dataclass
class RunningEmulator:
    base_url: str  # e.g. http://127.0.0.1:41234/v1 — what OPENAI_BASE_URL would be
    state: EmulatorState
    settings: EmulatorSettings
    api_key: str
    recorder: ResponseRecorder
    prefix: str = "/v1"
    _clients: list[openai.OpenAI] = field(default_factory=list)

    @property
    def exchanges(self) -> list[Exchange]:
        return self.recorder.exchanges

    def client(self, **kwargs: Any) -> openai.OpenAI:
        """An ``openai.OpenAI`` client for this emulator; kwargs override (max_retries, timeout, …)."""
        options: dict[str, Any] = {"base_url": self.base_url, "api_key": self.api_key, "max_retries": 2,
                                   "timeout": 10.0}
        options.update(kwargs)
        client = openai.OpenAI(**options)
        self._clients.append(client)
        return client

    def together_client(self, **kwargs: Any) -> together.Together:
        """A ``together.Together`` client for an emulator serving the Together dialect (the SDK adds /v1)."""
        options: dict[str, Any] = {"base_url": self.base_url, "api_key": self.api_key, "max_retries": 0,
                                   "timeout": 10.0}
        options.update(kwargs)
        return together.Together(**options)

    def control(self, method: str, path: str, json: Any = None) -> httpx2.Response:
        """Plain HTTP to the emulator's own ``/_emulator/…`` routes (they are not in the SDK)."""
        with httpx2.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {self.api_key}"},
                           timeout=10.0) as http:
            return http.request(method, path, json=json)


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this; without it uvicorn (given a ready socket) answers every
    # request ~40 ms late, waiting on the client's delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serve_emulator(settings: EmulatorSettings | None = None, *, prefix: str = "/v1",
                   factory: Callable[[EmulatorSettings], Any] = create_app) -> Iterator[RunningEmulator]:
    """Start the emulator (mounted at ``prefix``) on a free loopback port; stop it on exit.
    ``factory`` picks the dialect (``create_app``: OpenAI; ``create_together_app``: Together)."""
    settings = settings or EmulatorSettings(api_key=DEFAULT_TEST_KEY)
    app = factory(settings)
    recorder = ResponseRecorder(Starlette(routes=[Mount(prefix, app=app)]))
    sock = _free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(recorder, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="emulator-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the emulator's uvicorn server did not start")
        time.sleep(0.01)
    state: EmulatorState = app.state.emulator
    running = RunningEmulator(f"http://127.0.0.1:{port}{prefix}", state, settings,
                              settings.api_key or DEFAULT_TEST_KEY, recorder, prefix)
    try:
        yield running
    finally:
        for client in running._clients:
            client.close()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        state.close()


EmulatorFactory = Callable[..., RunningEmulator]


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorFactory]:
    """Factory fixture: ``emulator_server(settings=None, prefix="/v1") -> RunningEmulator``.

    Each call starts one more server; all of them stop at the end of the session.
    """
    with ExitStack() as stack:
        def start(settings: EmulatorSettings | None = None, *, prefix: str = "/v1") -> RunningEmulator:
            return stack.enter_context(serve_emulator(settings, prefix=prefix))

        yield start


@pytest.fixture(scope="session")
def emulator(emulator_server: EmulatorFactory) -> RunningEmulator:
    """The session's shared emulator with test settings (fast time scale, key ``sk-emulator-test``)."""
    return emulator_server()
