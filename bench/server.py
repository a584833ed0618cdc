"""The API as production runs it (uvicorn, one process), started for a benchmark on a free loopback port.

``bench.server:create_bench_app`` is our app plus one bare route, ``GET /bench/constant``, returning
constant JSON through the same server, middleware and JSON encoder: the ceiling the real routes are
compared with.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench.common import REPO

CONSTANT: dict[str, object] = {"id": "job_constant", "object": "fine_tuning.job", "status": "running",
                               "data": list(range(10))}


def create_bench_app() -> object:
    from api.app import create_app

    app = create_app(send_tasks=os.environ.get("FINETUNER_BENCH_SEND_TASKS") == "1")

    @app.get("/bench/constant", include_in_schema=False)
    def constant() -> dict[str, object]:
        return CONSTANT

    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_env(database_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    """The configuration the API and the worker share, as production passes it: environment variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINETUNER_", "OPENAI_"))}
    env.update({"PYTHONPATH": str(REPO), "FINETUNER_ENVIRONMENT": "test", "FINETUNER_DATABASE_URL": database_url,
                "FINETUNER_VAR_DIR": str(var_dir), "FINETUNER_STORAGE_DIR": str(var_dir / "storage"),
                "FINETUNER_MOUNT_EMULATOR": "false", "OPENAI_API_KEY": "sk-bench-unused", **extra})
    return env


@contextlib.contextmanager
def serve_api(database_url: str, var_dir: Path, env: dict[str, str] | None = None, *, send_tasks: bool = False
              ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """uvicorn in a child process; yields (base URL, process). Access log off, as in production behind a proxy."""
    port = free_port()
    env = {**(env or service_env(database_url, var_dir)), "FINETUNER_BENCH_SEND_TASKS": "1" if send_tasks else "0"}
    log = (var_dir / "api.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "bench.server:create_bench_app",
                                "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level",
                                "warning"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/bench/constant", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start:\n{(var_dir / 'api.log').read_text()[-3000:]}")
            time.sleep(0.1)
        yield base, process
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        if process.poll() is None:
            process.kill()
        log.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (from /proc; Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
