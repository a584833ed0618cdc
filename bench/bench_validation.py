"""Validation of a generated 1 GB chat file: peak memory (must stay under 300 MB) and throughput.

Throughput is given per wall-clock second and per CPU-second (the latter does not depend on what
else the machine is doing). Side by side with the peer, the cookbook notebook's approach (whole
file in memory), run on a smaller file since it needs several times the file's size in memory. Sizes can be changed with
``FINETUNER_BENCH_SIZE_MB`` (default 1024) and ``FINETUNER_BENCH_PEER_SIZE_MB`` (default 100).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.datagen import write_chat_file

MB = 1024 * 1024
PEAK_LIMIT_MB = 300
REPO = Path(__file__).resolve().parents[1]

OURS = """
import json, resource, sys, time
from core.datasets.validate import validate_file
start, cpu = time.perf_counter(), time.process_time()
report = validate_file(sys.argv[1], encoding=sys.argv[2], workers=int(sys.argv[3]))
children = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": time.perf_counter() - start,
                  "cpu_seconds": time.process_time() - cpu + children.ru_utime + children.ru_stime,
                  "worker_peak_rss_mb": children.ru_maxrss / 1024,
                  "valid": report.valid,
                  "examples": report.num_examples, "billed_tokens": report.billed_tokens,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

PEER = """
import json, resource, sys, time
from bench.cookbook_peer import cookbook_check
start, cpu = time.perf_counter(), time.process_time()
result = cookbook_check(sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu,
                  "examples": result["num_examples"],
                  "billed_tokens": result["billed_tokens"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _run(code: str, *args: str) -> dict[str, float]:
    result = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True,
                            check=False, env={**os.environ, "PYTHONPATH": str(REPO)})
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    figures: dict[str, float] = json.loads(result.stdout)
    return figures


def _line(label: str, size_mb: float, figures: dict[str, float]) -> str:
    workers = f" + workers {figures['worker_peak_rss_mb']:.0f} MB each" if figures.get("worker_peak_rss_mb") else ""
    return (f"  {label:<30} {size_mb:>5.0f} MB {figures['examples']:>9,.0f} examples "
            f"{figures['seconds']:>6.1f} s {size_mb / figures['seconds']:>6.1f} MB/s "
            f"({size_mb / figures['cpu_seconds']:>5.1f} MB/CPU-s)  peak RSS {figures['peak_rss_mb']:>4.0f} MB{workers}")


def main() -> None:
    size_mb = int(os.environ.get("FINETUNER_BENCH_SIZE_MB", "1024"))
    peer_mb = int(os.environ.get("FINETUNER_BENCH_PEER_SIZE_MB", "100"))
    with tempfile.TemporaryDirectory(prefix="finetuner-bench-") as scratch:
        big, small = Path(scratch) / "big.jsonl", Path(scratch) / "peer.jsonl"
        start = time.perf_counter()
        write_chat_file(big, size_mb * MB)
        write_chat_file(small, peer_mb * MB)
        print(f"  generated {size_mb} MB and {peer_mb} MB of distinct chat examples in "
              f"{time.perf_counter() - start:.0f} s", flush=True)
        ours_big = _run(OURS, str(big), "cl100k_base", "1")
        print(_line("ours (streaming, 1 process)", size_mb, ours_big), flush=True)
        workers = str(min(os.cpu_count() or 1, 8))
        ours_parallel = _run(OURS, str(big), "cl100k_base", workers)
        print(_line(f"ours (streaming, {workers} processes)", size_mb, ours_parallel), flush=True)
        ours_small = _run(OURS, str(small), "cl100k_base", "1")
        print(_line("ours (streaming, 1 process)", peer_mb, ours_small), flush=True)
        peer_small = _run(PEER, str(small))
        print(_line("peer: cookbook (in memory)", peer_mb, peer_small), flush=True)
        same_parallel = "same" if ours_parallel["billed_tokens"] == ours_big["billed_tokens"] else "DIFFERENT"
        print(f"  billed tokens on {size_mb} MB: 1 process {ours_big['billed_tokens']:,.0f}, {workers} processes "
              f"{ours_parallel['billed_tokens']:,.0f} ({same_parallel})")
        same = "same" if peer_small["billed_tokens"] == ours_small["billed_tokens"] else "DIFFERENT"
        print(f"  billed tokens on {peer_mb} MB: ours {ours_small['billed_tokens']:,.0f}, "
              f"cookbook {peer_small['billed_tokens']:,.0f} ({same})")
        verdict = "OK" if ours_big["peak_rss_mb"] < PEAK_LIMIT_MB else "OVER"
        print(f"  {size_mb} MB validated at {ours_big['peak_rss_mb']:.0f} MB peak RSS "
              f"(limit {PEAK_LIMIT_MB} MB: {verdict})")
        if verdict != "OK":
            raise SystemExit(1)
