"""The streaming validator: one pass over a file, one :class:`DatasetReport`.

Used by the API (upload), the CLI (``finetuner validate``) and the dashboard, so all three say the
same thing about the same bytes. The file is read one line at a time; what is kept per example is
a few integers (see ``stats.py``), so memory stays flat in the file's size. The same pass can hand
each example's canonical JSONL line to a sink, which is how ``ingest`` converts while validating.

With ``workers`` > 1 a large JSONL file is read in parts by several processes (``parallel.py``);
the report is the same as a single pass's.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from core.catalog import ModelCatalog
from core.datasets.cost import Target, resolve_target
from core.datasets.examples import FORMAT_HINTS, ExampleJudge, Sink, ValidationOptions, parse_columns
from core.datasets.report import DatasetReport
from core.datasets.sources import DEFAULT_MAX_LINE_BYTES, SNIFF_BYTES, CsvSource, JsonlSource, StopReading, sniff
from core.datasets.summary import build_report
from core.datasets.tally import Tally

__all__ = ["FORMAT_HINTS", "ValidationOptions", "parse_columns", "scan", "validate_file"]

READ_BUFFER = 1024 * 1024


def validate_file(
    path: str | os.PathLike[str],
    *,
    format_hint: str | None = None,
    system_prompt: str | None = None,
    columns: str | Sequence[str] | None = None,
    model: str | None = None,
    encoding: str | None = None,
    catalog: ModelCatalog | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    workers: int = 1,
) -> DatasetReport:
    """Validate a dataset file on disk. Counts use ``encoding``, else the model's, else o200k_base."""
    options = ValidationOptions(format_hint=format_hint, system_prompt=system_prompt,
                                columns=parse_columns(columns), max_line_bytes=max_line_bytes)
    return scan(Path(path), options, resolve_target(model, encoding, catalog=catalog), workers=workers)


def scan(path: Path, options: ValidationOptions, target: Target, sink: Sink | None = None, *,
         workers: int = 1) -> DatasetReport:
    """One pass over ``path``. ``sink`` receives the canonical JSONL bytes in order (in pieces);
    it may stop receiving at the first error, after which the output is not to be used."""
    size = path.stat().st_size
    hint = options.format_hint
    if hint in (None, "auto") and path.suffix.lower() in (".csv", ".tsv"):
        hint = path.suffix.lower()[1:]
    with path.open("rb", buffering=READ_BUFFER) as stream:
        container = _container(stream.read(SNIFF_BYTES), hint)
        stream.seek(0)
        if container in ("utf16", "binary"):
            tally = Tally()
            tally.error(1, "invalid_utf8", "the file is UTF-16 (it starts with a UTF-16 byte-order mark); save it "
                        "as UTF-8" if container == "utf16" else "the file is not text (it has NUL bytes); a dataset "
                        "is UTF-8 JSONL, CSV or TSV")
            return build_report(tally, target, fmt="unknown", size=size, columns=None)
        if container in ("csv", "tsv"):
            tally, columns = _scan_csv(stream, container, options, target, sink)
            return build_report(tally, target, fmt=container, size=size, columns=columns)
        parallel_tally: Tally | None = None
        if workers > 1:
            from core.datasets.parallel import scan_parallel

            parallel_tally = scan_parallel(path, size, options, target, sink, workers)
        tally = parallel_tally or _scan_jsonl(stream, options, target, sink)
    return build_report(tally, target, fmt=_format_name(tally, options), size=size, columns=None)


def _scan_jsonl(stream: IO[bytes], options: ValidationOptions, target: Target, sink: Sink | None) -> Tally:
    judge = ExampleJudge(options, target, sink)
    source = JsonlSource(stream, options.max_line_bytes)
    for line, record in source:
        judge.record(line, record)
    return judge.tally.take_file_facts(source)


def _scan_csv(stream: IO[bytes], container: str, options: ValidationOptions, target: Target, sink: Sink | None
              ) -> tuple[Tally, tuple[str, str] | None]:
    judge = ExampleJudge(options, target, sink, fixed_kind="prompt_completion")
    source = CsvSource(stream, "\t" if container == "tsv" else ",", options.columns, options.max_line_bytes)
    for line, record in source:
        if judge.labels is None and source.chosen is not None:
            judge.labels = source.chosen
        judge.record(line, record)
        if isinstance(record, StopReading):
            break
    return judge.tally.take_file_facts(source), source.chosen


def _format_name(tally: Tally, options: ValidationOptions) -> str:
    return options.fixed_kind or tally.kind or ("chat" if tally.judged_as_chat else "unknown")


def _container(head: bytes, format_hint: str | None) -> str:
    found = sniff(head)
    if found in ("utf16", "binary") or format_hint in (None, "auto"):
        return found
    return format_hint if format_hint in ("csv", "tsv") else "jsonl"
