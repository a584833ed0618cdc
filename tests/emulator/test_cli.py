"""``python -m emulator``: the flags, and a real process the SDK talks to under /v1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from emulator.__main__ import build_parser, settings_from_args
from emulator.settings import CLI_TIME_SCALE

ROOT = Path(__file__).resolve().parents[2]


def test_flags_become_settings(tmp_path: Path) -> None:
    profile = tmp_path / "faults.json"
    profile.write_text(json.dumps({"rate_429": 0.1, "rules": [{"path": "/files", "status": 500, "count": 2}]}))
    args = build_parser().parse_args(["--time-scale", "0.5", "--seed", "9", "--api-key", "sk-x",
                                      "--fault-profile", str(profile), "--webhook-url", "http://127.0.0.1:1/h",
                                      "--webhook-secret", "whsec_abc="])
    settings = settings_from_args(args)
    assert (settings.time_scale, settings.seed, settings.api_key) == (0.5, 9, "sk-x")
    assert settings.faults.rate_429 == 0.1 and settings.faults.rules[0].count == 2
    assert (settings.webhook_url, settings.webhook_secret) == ("http://127.0.0.1:1/h", "whsec_abc=")
    inline = settings_from_args(build_parser().parse_args(["--fault-profile", '{"rate_500": 0.5}']))
    assert inline.faults.rate_500 == 0.5
    assert settings_from_args(build_parser().parse_args([])).time_scale == CLI_TIME_SCALE


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def cli_server() -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--host", "127.0.0.1", "--port", str(port), "--api-key", "sk-cli",
         "--log-level", "warning"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read().decode() if process.stdout else ""
                    raise AssertionError(f"python -m emulator did not start:\n{output}") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_python_m_emulator_serves_openai_under_v1(cli_server: str) -> None:
    client = openai.OpenAI(base_url=cli_server, api_key="sk-cli", max_retries=0)
    uploaded = client.files.create(file=("cli.jsonl", b"{}\n"), purpose="fine-tune")
    assert client.files.retrieve(uploaded.id).bytes == 3
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=cli_server, api_key="sk-other", max_retries=0).files.list()
