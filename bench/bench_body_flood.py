"""The API's memory under a flood of huge bodies: 8 concurrent 200 MB bodies, unauthenticated.

Before bounded bodies, one 200 MB JSON body took the API from 242 to 855 MiB before its 401. Now
each is refused with 413 after at most the route's limit (1 MiB) plus one chunk. Runs the API in
its own uvicorn process (SQLite, no services) and reads its RSS from ``/proc`` while the bodies
stream in, both as chunked bodies and with a ``Content-Length``. Sizes: ``FINETUNER_BENCH_FLOOD_MB``
(default 200) and ``FINETUNER_BENCH_FLOOD_CLIENTS`` (default 8).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

MB = 1024 * 1024
REPO = Path(__file__).resolve().parents[1]
ROUTES = ("/v1/jobs", "/v1/provider-webhooks/openai")
CHUNK = 256 * 1024


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _flood(port: int, path: str, size: int, chunked: bool, results: list[str]) -> None:
    """Send one huge body over a raw socket (the client holds one chunk, not 200 MB) and keep the answer."""
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {size}\r\n\r\n"
    chunk = b'{"model": "' + b"a" * (CHUNK - 11)
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        try:
            s.sendall(head.encode())
            while sent < size:
                piece = chunk[:min(CHUNK, size - sent)]
                s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
            if chunked:
                s.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed: the rest of the body is refused, as it should be
        try:
            answer = s.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace")
        except OSError as exc:
            answer = f"({type(exc).__name__})"
    results.append(f"{answer} after {sent / MB:.1f} MiB sent")


def main() -> None:
    size = int(os.environ.get("FINETUNER_BENCH_FLOOD_MB", "200")) * MB
    clients = int(os.environ.get("FINETUNER_BENCH_FLOOD_CLIENTS", "8"))
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        env = {**os.environ, "PYTHONPATH": str(REPO), "FINETUNER_VAR_DIR": tmp, "FINETUNER_ENVIRONMENT": "test",
               "FINETUNER_MOUNT_EMULATOR": "false", "FINETUNER_OPENAI_WEBHOOK_SECRET": "whsec_" + "A" * 32}
        setup = "from core.db import get_engine; from core.models import Base; from core.config import get_settings; " \
                "Base.metadata.create_all(get_engine(get_settings().database_url))"
        subprocess.run([sys.executable, "-c", setup], env=env, cwd=REPO, check=True)
        server = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--port",
                                   str(port), "--log-level", "warning"], env=env, cwd=REPO)
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            idle = _rss_mib(server.pid)
            print(f"API idle: {idle:.0f} MiB RSS")
            for chunked in (True, False):
                for path in ROUTES:
                    results: list[str] = []
                    threads = [threading.Thread(target=_flood, args=(port, path, size, chunked, results))
                               for _ in range(clients)]
                    peak = _rss_mib(server.pid)
                    for thread in threads:
                        thread.start()
                    while any(t.is_alive() for t in threads):
                        peak = max(peak, _rss_mib(server.pid))
                        time.sleep(0.02)
                    mode = "chunked" if chunked else "Content-Length"
                    print(f"{clients} x {size // MB} MB {mode} to {path}: peak {peak:.0f} MiB RSS "
                          f"(+{peak - idle:.0f} over idle); answers: {sorted(set(results))}")
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
