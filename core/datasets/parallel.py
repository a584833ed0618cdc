"""Validating a large JSONL file with several processes, one part of the file each.

The tokenizer holds the GIL-free part of the work only in name (threads do not speed it up), so
parts go to processes. Parts are cut just after a newline; each part knows the file's format (from
its first recognised line, found in the first part before the fork), so it judges lines exactly as
a single pass would. There is no serial pass over the file before the work: every part numbers its
lines from 1 and, as the tallies merge in file order, each is shifted by the lines of the parts
before it. Blank lines at the end of one part become errors if a later part has an example. The
calling process reads the first part itself, so N workers cost N - 1 forks.

Only for JSONL: a CSV record may span lines, so a CSV file is always read in one pass.
"""

from __future__ import annotations

import io
import multiprocessing
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import IO, TYPE_CHECKING

from core.datasets.cost import Target
from core.datasets.examples import ExampleJudge, Sink, ValidationOptions
from core.datasets.formats import kind_of
from core.datasets.sources import JsonlSource, StopReading
from core.datasets.tally import Tally
from core.datasets.tokens import ordinary_encoder

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

PARALLEL_MIN_BYTES = 16 * 1024 * 1024  # below this, starting processes costs more than it saves
BLOCK = 4 * 1024 * 1024
KIND_SEARCH_LINES = 10_000


class _Range(io.RawIOBase):
    """Bytes ``[start, end)`` of a file, as a stream of their own."""

    def __init__(self, raw: io.FileIO, start: int, end: int) -> None:
        super().__init__()
        self._raw = raw
        self._raw.seek(start)
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        if self._left <= 0:
            return 0
        whole = memoryview(buffer).cast("B")
        view = whole[: min(whole.nbytes, self._left)]
        count = self._raw.readinto(view) or 0
        self._left -= count
        return count


def _open_range(path: Path, start: int, end: int) -> io.BufferedReader:
    return io.BufferedReader(_Range(io.FileIO(path, "rb"), start, end), BLOCK)


def part_bounds(path: Path, size: int, parts: int) -> list[tuple[int, int]]:
    """Cut ``[0, size)`` into up to ``parts`` ranges, each ending just after a newline (or at EOF)."""
    cuts = [0]
    with path.open("rb", buffering=0) as raw:
        for index in range(1, parts):
            position = max(size * index // parts, cuts[-1])
            raw.seek(position)
            while True:
                block = raw.read(BLOCK)
                if not block:
                    position = size
                    break
                newline = block.find(b"\n")
                if newline >= 0:
                    position += newline + 1
                    break
                position += len(block)
            if position >= size:
                break
            if position > cuts[-1]:
                cuts.append(position)
    cuts.append(size)
    return list(pairwise(cuts))


def first_kind(path: Path, end: int, options: ValidationOptions) -> tuple[str, int] | None:
    """The file's format and the line that set it, if the first part shows it (None: line 1 is not JSONL)."""
    with _open_range(path, 0, end) as stream:
        for line, record in JsonlSource(stream, options.max_line_bytes):
            if isinstance(record, StopReading) or line > KIND_SEARCH_LINES:
                return None
            if isinstance(record, dict):
                kind = kind_of(record)
                if kind is None and options.columns and all(c in record for c in options.columns):
                    kind = "prompt_completion"
                if kind is not None:
                    return kind, line
    return None


@dataclass(frozen=True)
class PartJob:
    path: Path
    start: int
    end: int
    options: ValidationOptions
    target: Target
    known_kind: tuple[str, int] | None
    canonical_part: Path | None


def scan_part(job: PartJob) -> Tally:
    """One part's tally (run in a worker process, or in the caller for the first part)."""
    out: IO[bytes] | None = job.canonical_part.open("wb", buffering=BLOCK) if job.canonical_part else None
    try:
        later = job.start > 0
        judge = ExampleJudge(job.options, job.target, out.write if out else None, known_kind=job.known_kind,
                             later_part=later)
        with _open_range(job.path, job.start, job.end) as stream:
            source = JsonlSource(stream, job.options.max_line_bytes, starts_file=not later)
            for line, record in source:
                judge.record(line, record)
        return judge.tally.take_file_facts(source)
    finally:
        if out is not None:
            out.close()


def _context() -> multiprocessing.context.BaseContext:
    # fork shares the loaded tokenizer with the workers for free; spawn elsewhere.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def scan_parallel(path: Path, size: int, options: ValidationOptions, target: Target, sink: Sink | None,
                  workers: int) -> Tally | None:
    """The file's tally from ``workers`` processes, or None when it is better read in one pass."""
    if size < PARALLEL_MIN_BYTES:
        return None
    bounds = part_bounds(path, size, workers)
    if len(bounds) < 2:
        return None
    known = None
    if options.fixed_kind is None:
        known = first_kind(path, bounds[0][1], options)
        if known is None:
            return None
    ordinary_encoder(target.encoding)  # loaded once, before the fork
    with tempfile.TemporaryDirectory(prefix="finetuner-parts-") as scratch:
        jobs = [PartJob(path, start, end, options, target, known,
                        Path(scratch) / f"part-{index}.jsonl" if sink is not None else None)
                for index, (start, end) in enumerate(bounds)]
        with ProcessPoolExecutor(max_workers=len(jobs) - 1, mp_context=_context()) as pool:
            futures = [pool.submit(scan_part, job) for job in jobs[1:]]
            tally = scan_part(jobs[0])
            for future in futures:
                later = future.result()
                later.shift(tally.num_lines)
                tally.absorb(later)
        if sink is not None and not tally.line_errors:
            for job in jobs:
                assert job.canonical_part is not None
                with job.canonical_part.open("rb") as part:
                    shutil.copyfileobj(part, _SinkWriter(sink), BLOCK)
    return tally


class _SinkWriter:
    """Adapts a sink to the ``write`` that ``shutil.copyfileobj`` calls."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink

    def write(self, data: bytes) -> int:
        self._sink(data)
        return len(data)
