"""A running service for the surface tests: ``python -m api.embedded`` (API + worker + beat + the
mounted emulator) in a subprocess, once per module that asks for it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.test_embedded_run import ROOT, _wait_for_banner

# Slow enough that a watcher sees a job running for a few seconds, fast enough for a test suite.
SURFACE_TIME_SCALE = 0.02


@dataclass(frozen=True)
class Service:
    url: str
    key: str
    var_dir: Path
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    home = tmp_path_factory.mktemp("service")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINETUNER_", "OPENAI_", "WANDB_"))}
    env.update({"FINETUNER_VAR_DIR": str(home / "var"), "FINETUNER_SWEEP_INTERVAL_SECONDS": "0.3",
                "FINETUNER_STREAM_POLL_SECONDS": "0.2", "PYTHONPATH": str(ROOT), "WANDB_MODE": "offline",
                "WANDB_DIR": str(home / "wandb")})
    log = home / "embedded.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.embedded", "--host", "127.0.0.1", "--port", "0", "--emulator-time-scale",
             str(SURFACE_TIME_SCALE)], cwd=home, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        url, key, _ = _wait_for_banner(log, process)
        yield Service(url=url, key=key, var_dir=home / "var", log=log)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
