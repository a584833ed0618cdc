"""Validate a file and write its canonical JSONL in the same pass: what an upload goes through.

The canonical file is what gets uploaded to the provider: chat for supervised training, preference
pairs for DPO, one compact object per line, blank lines and unknown keys gone. It exists only
when every example converted; a file-level problem (too few examples) does not stop conversion,
so a user can still look at and fix a small file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.catalog import ModelCatalog
from core.datasets.cost import resolve_target
from core.datasets.report import DATASET_LEVEL_CODES, DatasetReport
from core.datasets.sources import DEFAULT_MAX_LINE_BYTES
from core.datasets.validate import ValidationOptions, parse_columns, scan

HASH_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class IngestResult:
    report: DatasetReport
    original_sha256: str
    original_bytes: int
    canonical_path: Path | None
    canonical_sha256: str | None
    canonical_bytes: int | None

    @property
    def status(self) -> str:
        return "valid" if self.report.valid else "invalid"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def convertible(report: DatasetReport) -> bool:
    """Every example converted: no error tied to a line, and at least one example."""
    return report.num_examples > 0 and all(
        count == 0 or code in DATASET_LEVEL_CODES for code, count in report.error_counts.items()
    )


class _HashingWriter:
    def __init__(self, path: Path) -> None:
        self._out = path.open("wb", buffering=HASH_CHUNK)
        self.digest = hashlib.sha256()
        self.size = 0

    def __call__(self, data: bytes) -> None:
        self._out.write(data)
        self.digest.update(data)
        self.size += len(data)

    def close(self) -> None:
        self._out.close()


def ingest(
    source_path: str | os.PathLike[str],
    canonical_path: str | os.PathLike[str],
    *,
    format_hint: str | None = None,
    system_prompt: str | None = None,
    columns: str | Sequence[str] | None = None,
    model: str | None = None,
    encoding: str | None = None,
    catalog: ModelCatalog | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    workers: int = 1,
) -> IngestResult:
    """Validate ``source_path`` and write its canonical JSONL to ``canonical_path``.

    The destination appears only complete (written beside it, then renamed) and only when the
    file converted; otherwise ``canonical_path`` in the result is None and nothing is left behind.
    ``workers`` > 1 reads a large JSONL file with that many processes (forked: not from a threaded
    server); the result is the same.
    """
    source = Path(source_path)
    destination = Path(canonical_path)
    options = ValidationOptions(format_hint=format_hint, system_prompt=system_prompt,
                                columns=parse_columns(columns), max_line_bytes=max_line_bytes)
    target = resolve_target(model, encoding, catalog=catalog)
    partial = destination.with_name(destination.name + ".partial")
    writer = _HashingWriter(partial)
    try:
        report = scan(source, options, target, sink=writer, workers=workers)
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)
        raise
    writer.close()
    original_sha256 = file_sha256(source)
    if not convertible(report):
        partial.unlink(missing_ok=True)
        return IngestResult(report, original_sha256, report.size_bytes, None, None, None)
    os.replace(partial, destination)
    return IngestResult(report, original_sha256, report.size_bytes, destination, writer.digest.hexdigest(),
                        writer.size)
