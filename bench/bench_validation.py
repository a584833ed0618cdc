"""Validation: ``finetuner validate`` against OpenAI's cookbook notebook (its full algorithm), same data, same run.

Data: realistic distinct chat examples (``bench.datagen.write_realistic_chat_file``: real prose and
code of varied length, multi-turn, a little non-English), 10k and 100k examples (300k with
``FINETUNER_BENCH_FULL=1``), generated once into ``var/bench-data/``. Rounds interleave ours in one
process, ours in two, and the peer. Token totals must be identical, or the benchmark fails.

Also measured: the tokenizer alone (riptoken behind our guard vs tiktoken, same strings, same
totals) and the CLI's start-up on a 20-line file against the encodings' own load time.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from bench.common import (
    REPO,
    SMOKE,
    Measured,
    full,
    interleave,
    load_average,
    python,
    rounds,
    run_measured,
    summary,
    verdict,
)
from bench.common import table as render

DATA_DIR = Path(os.environ.get("FINETUNER_BENCH_DATA_DIR", REPO / "var" / "bench-data"))
SPEEDUP_TARGET = 6.0
MEMORY_FRACTION_TARGET = 1 / 3
STARTUP_MARGIN_S = 0.2


def dataset(examples: int) -> Path:
    from bench.datagen import write_realistic_chat_file

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f"realistic-{examples}.jsonl"
    if not path.exists():
        scratch = path.with_suffix(".tmp")
        started = time.perf_counter()
        size = write_realistic_chat_file(scratch, examples)
        scratch.rename(path)
        print(f"  generated {examples:,} examples ({size / 1e6:.0f} MB) in {time.perf_counter() - started:.0f} s")
    return path


def ours(path: Path, workers: int) -> Measured:
    return run_measured(python("-m", "finetuner", "validate", str(path), "--encoding", "cl100k_base",
                               "--workers", str(workers), "--json"))


def peer(path: Path) -> Measured:
    return run_measured(python("-m", "bench.cookbook_peer", str(path)))


def _size_table(examples: int, path: Path, count: int) -> dict[str, float]:
    results = interleave({"ours, 1 process": lambda: ours(path, 1), "ours, 2 processes": lambda: ours(path, 2),
                          "peer: cookbook notebook": lambda: peer(path)}, count)
    peer_runs = results["peer: cookbook notebook"]
    peer_tokens = {m.output["total_tokens"] for m in peer_runs}
    _, peer_median = summary([m.seconds for m in peer_runs])
    rows = []
    figures: dict[str, float] = {}
    for name, runs in results.items():
        tokens = {m.output["total_tokens"] for m in runs}
        if tokens != peer_tokens or len(tokens) != 1:
            raise SystemExit(f"token totals differ: {name} {tokens} vs the notebook's {peer_tokens}")
        low, median = summary([m.seconds for m in runs])
        peak = max(m.peak_mb for m in runs)
        total = tokens.pop()
        rows.append([name, low, median, f"{examples / median:,.0f}", f"{total / median / 1e6:.2f} M",
                     f"{peak:.0f}", f"{peer_median / median:.2f}x"])
        figures[name + " median"] = median
        figures[name + " peak"] = peak
    size_mb = path.stat().st_size / 1e6
    print(render(f"{examples:,} examples, {size_mb:.0f} MB, {peer_tokens.pop():,} tokens (identical in every run); "
                 f"{count} interleaved rounds",
                 ["run", "wall min s", "median s", "examples/s", "tokens/s", "peak PSS MB", "speed-up vs peer"],
                 rows), flush=True)
    return figures


def tokenizer_only(path: Path) -> None:
    """The counting loop alone on the file's strings: riptoken (guarded) vs tiktoken."""
    code = """
import json, sys, time
from core.datasets import tokens
texts = [m["content"] for line in open(sys.argv[1], encoding="utf-8") for m in json.loads(line)["messages"]]
out = {}
for name in ("tiktoken", "riptoken"):
    encode = tokens.ordinary_encoder("cl100k_base", name)
    start = time.perf_counter()
    total = sum(len(encode(t)) for t in texts)
    out[name] = [time.perf_counter() - start, total]
out["strings"] = len(texts)
out["megabytes"] = sum(len(t.encode()) for t in texts) / 1e6
print(json.dumps(out))
"""
    result = run_measured(python("-c", code, str(path))).output
    same = "identical" if result["tiktoken"][1] == result["riptoken"][1] else "DIFFERENT"
    rows = [[name, result[name][0], f"{result['megabytes'] / result[name][0]:.1f}", f"{result[name][1]:,}"]
            for name in ("tiktoken", "riptoken")]
    print(render(f"tokenizer alone: {result['strings']:,} strings, {result['megabytes']:.0f} MB; totals {same}; "
                 f"riptoken {result['tiktoken'][0] / result['riptoken'][0]:.2f}x tiktoken",
                 ["tokenizer", "seconds", "MB/s", "tokens"], rows), flush=True)
    if same != "identical":
        raise SystemExit("riptoken and tiktoken counted differently")


def startup(scratch: Path) -> None:
    """A 20-line file through the CLI, against a bare interpreter and each encoding's load time."""
    small = scratch / "twenty.jsonl"
    with dataset(200 if SMOKE else 10_000).open(encoding="utf-8") as f:
        small.write_text("".join(next(f) for _ in range(20)), encoding="utf-8")
    load = """
import json, sys, time
start = time.perf_counter()
from core.datasets.tokens import ordinary_encoder
ordinary_encoder(sys.argv[1])
print(json.dumps({"load": time.perf_counter() - start}))
"""
    tries = 1 if SMOKE else 5
    bare = min(run_measured(python("-c", "pass"), parse_json=False).seconds for _ in range(tries))
    rows = []
    for encoding in ("cl100k_base", "o200k_base"):
        loads = [run_measured(python("-c", load, encoding)).output["load"] for _ in range(tries)]
        walls = [run_measured(python("-m", "finetuner", "validate", str(small), "--encoding", encoding),
                              parse_json=False).seconds for _ in range(tries)]
        loaded, wall = min(loads), min(walls)
        budget = bare + loaded + STARTUP_MARGIN_S
        rows.append([encoding, bare, loaded, wall, budget, verdict(wall <= budget)])
    print(render(f"20-line file, `finetuner validate` wall clock (min of {tries}); target: interpreter + encoding "
                 f"load + {STARTUP_MARGIN_S} s",
                 ["encoding", "python -c pass s", "encoding load s", "validate s", "target s", "target"], rows),
          flush=True)


def main() -> None:
    print(f"  {load_average()}", flush=True)
    sizes = [200] if SMOKE else [10_000, 100_000] + ([300_000] if full() else [])
    figures: dict[int, dict[str, float]] = {}
    for examples in sizes:
        figures[examples] = _size_table(examples, dataset(examples), rounds(3))
    tokenizer_only(dataset(sizes[0]))
    import tempfile

    with tempfile.TemporaryDirectory(prefix="finetuner-bench-") as scratch:
        startup(Path(scratch))
    at = 100_000 if 100_000 in figures else sizes[-1]
    two = figures[at]
    speedup = two["peer: cookbook notebook median"] / two["ours, 2 processes median"]
    memory = two["ours, 2 processes peak"] / two["peer: cookbook notebook peak"]
    peaks = [figures[n]["ours, 2 processes peak"] for n in sizes]
    print(f"  targets at {at:,} examples: speed-up {speedup:.2f}x (target >= {SPEEDUP_TARGET:g}x: "
          f"{verdict(speedup >= SPEEDUP_TARGET)}); memory {memory:.2f} of the notebook's (target <= 1/3: "
          f"{verdict(memory <= MEMORY_FRACTION_TARGET)}); our peak PSS over sizes "
          f"{', '.join(f'{p:.0f}' for p in peaks)} MB")
    if os.environ.get("FINETUNER_BENCH_JSON"):
        Path(os.environ["FINETUNER_BENCH_JSON"]).write_text(json.dumps({str(k): v for k, v in figures.items()}))
