"""Every benchmark runs, at a tiny size, so none of them rots between ``make bench`` runs.

Benchmarks are never part of the test run for their figures: this only checks each one still
starts its stack, drives it, checks its own invariants (identical token totals, no lost or
duplicated job) and prints its table. ``FINETUNER_BENCH_SMOKE=1`` shrinks every size and round.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import _modules
from bench.bench_api import _ms, parse_wrk
from tests.paths import REPO

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("FINETUNER_TEST_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def test_make_bench_runs_all_five_benchmarks() -> None:
    names = {name.removeprefix("bench_") for name in _modules()}
    assert {"validation", "polling", "e2e", "api", "metrics_pg"} <= names


@pytest.mark.parametrize("name", ["validation", "polling", "api", "metrics_pg", "e2e"])
def test_benchmark_runs_at_a_tiny_size_and_prints_its_table(name: str, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "FINETUNER_BENCH_SMOKE": "1",
           "FINETUNER_BENCH_DATA_DIR": str(tmp_path), "FINETUNER_BENCH_REDIS_URL": REDIS_URL}
    result = subprocess.run([sys.executable, "-m", "bench", name], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=240, check=False)
    assert result.returncode == 0, f"bench {name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert f"== bench_{name} done" in result.stdout, result.stdout[-3000:]
    assert "  ----" in result.stdout or "wrk is not installed" in result.stdout, result.stdout[-3000:]


WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:40000
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.31ms    3.10ms  61.02ms   88.12%
    Req/Sec     2.61k   201.33     2.90k    71.00%
  Latency Distribution
     50%   11.84ms
     75%   13.02ms
     90%   15.55ms
     99%   24.70ms
  25961 requests in 10.00s, 21.13MB read
Requests/sec:   2595.23
Transfer/sec:      2.11MB
"""


def test_wrk_output_is_read_as_throughput_and_latency_percentiles() -> None:
    assert parse_wrk(WRK_OUTPUT) == {"rps": 2595.23, "p50": 11.84, "p99": 24.70}
    assert _ms("850us") == pytest.approx(0.85) and _ms("1.20s") == 1200.0


def test_wrk_error_responses_fail_the_benchmark() -> None:
    with pytest.raises(RuntimeError, match="3 error responses"):
        parse_wrk(WRK_OUTPUT + "  Non-2xx or 3xx responses: 3\n")
