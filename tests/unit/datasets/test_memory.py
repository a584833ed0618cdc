"""Memory stays flat in file size: 200 MB is validated in about the memory of 20 MB.

Each file is validated in its own subprocess (so peak RSS is that run's alone); the two run at once
to keep the test's wall time near that of the larger file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.datagen import write_chat_file

REPO = Path(__file__).resolve().parents[3]
MB = 1024 * 1024

VALIDATE_AND_MEASURE = """
import json, resource, sys, time
from core.datasets.validate import validate_file
start = time.perf_counter()
report = validate_file(sys.argv[1], model="gpt-4o-mini")
seconds = time.perf_counter() - start
print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "seconds": seconds, "valid": report.valid, "num_examples": report.num_examples}))
"""


@pytest.mark.slow
def test_peak_memory_is_flat_from_20_to_200_mb(tmp_path: Path) -> None:
    small, large = tmp_path / "20mb.jsonl", tmp_path / "200mb.jsonl"
    counts = {small: write_chat_file(small, 20 * MB), large: write_chat_file(large, 200 * MB)}
    runs = {path: subprocess.Popen([sys.executable, "-c", VALIDATE_AND_MEASURE, str(path)], cwd=REPO,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for path in (large, small)}
    figures = {}
    for path, run in runs.items():
        stdout, stderr = run.communicate(timeout=240)
        assert run.returncode == 0, stderr[-2000:]
        figures[path] = json.loads(stdout)
        assert figures[path]["valid"] and figures[path]["num_examples"] == counts[path]
    growth = figures[large]["peak_rss_mb"] - figures[small]["peak_rss_mb"]
    throughput = 200 / figures[large]["seconds"]
    print(f"peak RSS 20 MB: {figures[small]['peak_rss_mb']:.0f} MB, 200 MB: {figures[large]['peak_rss_mb']:.0f} MB;"
          f" {throughput:.1f} MB/s")
    assert growth < 50, f"peak RSS grew by {growth:.0f} MB from 20 MB to 200 MB: {figures}"
