"""``make run``: the whole service from one command, with no external service (DESIGN §5).

Order of start-up, and why:

1. bind the API's socket first, so the port is known (``--port 0`` picks a free one) before the
   provider URL is decided;
2. with no ``OPENAI_API_KEY``, the emulator is mounted at ``/emulator/v1`` and ``OPENAI_BASE_URL``
   points there — set in this process's environment before the settings are read, so the API and
   the worker (a child, inheriting it) both talk to the mounted emulator;
3. ``alembic upgrade head`` on the database (a SQLite file under ``var/`` unless
   ``FINETUNER_DATABASE_URL`` says otherwise);
4. a development tenant and API key (the key is kept in ``var/dev-api-key`` so restarts reuse it),
   and the mounted emulator's state in ``var/emulator.db`` (so fine-tuned models survive a restart);
5. the Celery worker with embedded beat (``worker -B``) as a child process, broker from
   ``FINETUNER_BROKER_URL`` (default: kombu's SQLAlchemy transport on ``var/broker.db``);
6. uvicorn in the foreground. Ctrl-C (SIGINT) or SIGTERM stops uvicorn gracefully, then the worker
   (warm shutdown: a task in flight finishes or goes back to the queue), then exits.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEV_TENANT = "development"
KEY_FILE = "dev-api-key"
EMULATOR_STATE_FILE = "emulator.db"  # the mounted emulator's jobs, files and models (SQLite)
WORKER_STOP_SECONDS = 20
GRACEFUL_SHUTDOWN_SECONDS = 5  # open live streams are cut after this on Ctrl-C (see main)
PROMETHEUS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"  # core.telemetry.MULTIPROC_ENV; importing it would load the client

log = logging.getLogger("finetuner.embedded")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m api.embedded", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to serve on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--emulator-time-scale", type=float, default=None,
                        help="wall seconds per simulated second in the mounted emulator (default: the emulator's "
                             "CLI pace, a 100-example job in about 10 s)")
    return parser.parse_args(argv)


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(False)
    return sock


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _share_prometheus_samples(var_dir: Path) -> None:
    """API and worker processes write their metrics samples to one folder; ``/metrics`` sums them.

    Set before anything imports prometheus_client (it picks its storage at import), inherited by
    the worker; emptied first, since a dead process's samples would otherwise be counted forever.
    """
    if os.environ.get(PROMETHEUS_DIR_ENV):
        return
    folder = var_dir / "prometheus"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink(missing_ok=True)
    os.environ[PROMETHEUS_DIR_ENV] = str(folder)


def _use_mounted_emulator(base_url: str) -> bool:
    """Point the provider at the mounted emulator unless the user configured a provider."""
    has_key = bool(os.environ.get("OPENAI_API_KEY") or os.environ.get("FINETUNER_OPENAI_API_KEY"))
    wants_mount = os.environ.get("FINETUNER_MOUNT_EMULATOR", "true").lower() not in ("0", "false", "no")
    if wants_mount and not (os.environ.get("TOGETHER_API_KEY") or os.environ.get("TOGETHER_BASE_URL")):
        os.environ["TOGETHER_BASE_URL"] = f"{base_url}/emulator/together"  # each dialect at its own mount
    if has_key or not wants_mount or os.environ.get("OPENAI_BASE_URL"):
        return False
    os.environ["OPENAI_BASE_URL"] = f"{base_url}/emulator/v1"
    return True


def migrate(database_url: str) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)  # SQLite creates the file, not its folder

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    command.upgrade(config, "head")


def development_key(var_dir: Path) -> str:
    """The development tenant's key: reused from ``var/`` while valid, else a new one (shown once)."""
    from core.db import session_scope
    from core.errors import DomainError
    from core.tenants import authenticate, create_api_key, create_tenant, find_tenant

    key_path = var_dir / KEY_FILE
    with session_scope() as session:
        if key_path.is_file():
            saved = key_path.read_text().strip()
            try:
                authenticate(session, saved)
                return saved
            except DomainError:
                pass  # revoked, or a different database: make a new one
        try:
            tenant = find_tenant(session, DEV_TENANT)
        except DomainError:
            tenant = create_tenant(session, DEV_TENANT)
        _, key = create_api_key(session, tenant.id, name="development (make run)")
    key_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.touch(mode=0o600)
    key_path.write_text(key + "\n")
    return key


def start_worker(concurrency: int, log_path: Path) -> subprocess.Popen[bytes]:
    """``celery worker -B`` in the same process group (a terminal's Ctrl-C reaches it too)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "worker.celery_app:celery_app", "worker", "-B",
             "--loglevel=INFO", f"--concurrency={concurrency}", "-n", "embedded@%h",
             "--without-gossip", "--without-mingle"],
            cwd=os.getcwd(), env=env, stdout=out, stderr=subprocess.STDOUT,
        )


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=WORKER_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        log.warning("the worker did not stop within %ss; killing it", WORKER_STOP_SECONDS)
        process.kill()
        process.wait(timeout=10)


def _banner(base_url: str, key: str, emulator: bool, worker: subprocess.Popen[bytes], worker_log: Path) -> str:
    provider = f"the emulator at {base_url}/emulator/v1" if emulator else os.environ.get(
        "OPENAI_BASE_URL", "OpenAI (OPENAI_API_KEY)")
    return "\n".join([
        "",
        f"  finetuner is running at {base_url}",
        f"  API docs:      {base_url}/docs",
        f"  API key:       {key}",
        f"  provider:      {provider}",
        f"  worker:        pid {worker.pid} (with beat), log in {worker_log}",
        "",
        "  try:",
        f"    curl -H 'Authorization: Bearer {key}' -F file=@train.jsonl {base_url}/v1/datasets",
        "",
        "  Ctrl-C stops everything.",
        "",
    ])


def _interrupt(_signum: int, _frame: Any) -> None:
    """uvicorn re-raises the signal that stopped it; turn SIGTERM, like SIGINT, into an exception
    so the worker is still stopped (the default SIGTERM action would end this process on the spot)."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    from core.logs import configure

    log_format = os.environ.get("FINETUNER_LOG_FORMAT", "text").lower()
    configure(log_format)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # One absolute var/ for this process and the worker, whatever directory either runs in.
    os.environ["FINETUNER_VAR_DIR"] = str(Path(os.environ.get("FINETUNER_VAR_DIR") or "var").resolve())
    _share_prometheus_samples(Path(os.environ["FINETUNER_VAR_DIR"]))
    sock = _bind(args.host, args.port)
    port = sock.getsockname()[1]
    base_url = f"http://{_url_host(args.host)}:{port}"
    emulator = _use_mounted_emulator(base_url)

    import uvicorn

    from api.app import create_app
    from core.config import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    var_dir = settings.var_dir
    migrate(settings.database_url)
    key = development_key(var_dir)

    emulator_settings: Any = None
    if emulator:
        from emulator import CLI_TIME_SCALE, EmulatorSettings

        # Its state lives beside the database, so fine-tuned models answer after a restart.
        emulator_settings = EmulatorSettings(time_scale=args.emulator_time_scale or CLI_TIME_SCALE,
                                             state_file=var_dir / EMULATOR_STATE_FILE)
    app = create_app(settings, emulator_settings=emulator_settings)
    worker_log = var_dir / "worker.log"
    worker = start_worker(args.concurrency, worker_log)
    banner = _banner(base_url, key, emulator, worker, worker_log)

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                print(banner, flush=True)

    # JSON logs: uvicorn's own loggers go through the root handler too, instead of its text config.
    log_config = None if log_format == "json" else uvicorn.config.LOGGING_CONFIG
    # A live stream (the dashboard's, `finetuner watch`) never ends on its own: without a bound, Ctrl-C
    # would wait for it forever. Clients reconnect with Last-Event-ID, so cutting it loses nothing.
    server = Server(uvicorn.Config(app, log_level="info", lifespan="on", log_config=log_config,
                                   timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS))
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping the worker…", flush=True)
        stop_worker(worker)
        sock.close()
    print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
