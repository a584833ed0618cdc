"""The dataset service: receive an upload, validate it, store it content-addressed, find it again.

Uploads never sit in memory whole: bytes go to a temporary file under the blob store while being
hashed and counted, and the size limit is enforced as they arrive (nothing is kept past it). A
dataset that fails validation is still stored, ``status: "invalid"`` with its report (DESIGN §8),
so the client sees every wrong line; jobs refuse it later. Functions here never commit.

Validation is one function, :func:`validate_upload`, on top of ``core.datasets.ingest``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO, Any, Literal

from sqlalchemy.orm import Session

from core import idempotency
from core.catalog import ModelCatalog
from core.datasets.ingest import ingest
from core.datasets.sniff import UnsupportedFile, refuse_non_dataset
from core.datasets.split import part_sizes, split_file
from core.errors import Conflict, PayloadTooLarge, Unprocessable
from core.models import Dataset
from core.scoping import get_owned, owned, page
from core.states import DatasetStatus
from core.storage import CHUNK, BlobStore, StoredBlob

log = logging.getLogger(__name__)

DatasetFormat = Literal["auto", "jsonl", "chat", "prompt_completion", "preference", "csv", "tsv"]
Variant = Literal["canonical", "original"]


# --- receiving bytes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StagedUpload:
    """An upload fully received into a temporary file under the blob store, not yet adopted."""

    path: Path
    sha256: str
    size: int
    filename: str | None = None

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


class UploadStager:
    """Writes one upload's bytes to a temp file, hashing as it goes; refuses past ``max_bytes``.

    Fed chunk by chunk (by the API's streaming multipart parser, or :func:`stage_stream`), so the
    limit is enforced while receiving: an oversized upload is cut off and leaves no file behind.
    """

    def __init__(self, store: BlobStore, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.path = store.temp_path()
        self._out: IO[bytes] | None = self.path.open("wb")
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        if self._out is None:
            raise RuntimeError("upload already finished or discarded")
        self.size += len(chunk)
        if self.size > self.max_bytes:
            self.discard()
            raise PayloadTooLarge(f"upload exceeds the limit of {self.max_bytes} bytes",
                                  details={"limit_bytes": self.max_bytes})
        self._digest.update(chunk)
        self._out.write(chunk)

    def finish(self, filename: str | None = None) -> StagedUpload:
        if self._out is None:
            raise RuntimeError("upload already finished or discarded")
        self._out.close()
        self._out = None
        return StagedUpload(path=self.path, sha256=self._digest.hexdigest(), size=self.size, filename=filename)

    def discard(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        self.path.unlink(missing_ok=True)


def stage_stream(store: BlobStore, source: IO[bytes], *, max_bytes: int, filename: str | None = None
                 ) -> StagedUpload:
    """Stage a readable stream (CLI, tests, anything that is not the HTTP multipart parser)."""
    stager = UploadStager(store, max_bytes)
    try:
        while chunk := source.read(CHUNK):
            stager.write(chunk)
    except BaseException:
        stager.discard()
        raise
    return stager.finish(filename)


# --- validating ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetOptions:
    """What the client said about the upload besides its bytes."""

    name: str | None = None
    format: DatasetFormat = "auto"
    system_prompt: str | None = None
    columns: tuple[str, str] | None = None
    model: str | None = None

    def fingerprint(self, sha256: str) -> str:
        """Same key + same bytes + same options = same dataset (idempotency)."""
        body = {"sha256": sha256, **asdict(self)}
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=list).encode()).hexdigest()


@dataclass
class Validation:
    format: str
    status: DatasetStatus
    num_examples: int
    report: dict[str, Any]
    canonical: StoredBlob | None = None


def validate_upload(path: Path, options: DatasetOptions, store: BlobStore,
                    catalog: ModelCatalog | None = None) -> Validation:
    """The full validator (``core.datasets.ingest``): report and canonical JSONL in one pass.

    The canonical file is written under the store's temp directory and adopted by its hash, so
    it lands next to the original without being copied.
    """
    canonical_tmp = store.temp_path()
    try:
        result = ingest(path, canonical_tmp, format_hint=options.format, system_prompt=options.system_prompt,
                        columns=options.columns, model=options.model, catalog=catalog)
        canonical = None
        if result.canonical_path is not None and result.canonical_sha256 and result.canonical_bytes is not None:
            canonical = store.adopt(result.canonical_path, result.canonical_sha256, result.canonical_bytes)
    finally:
        canonical_tmp.unlink(missing_ok=True)
    report = result.report
    return Validation(format=report.format, status=DatasetStatus.VALID if report.valid else DatasetStatus.INVALID,
                      num_examples=report.num_examples, report=report.model_dump(mode="json"), canonical=canonical)


# --- storing and reading --------------------------------------------------------------------------


def create_dataset(
    session: Session, tenant_id: str, staged: StagedUpload, options: DatasetOptions, *,
    store: BlobStore, idempotency_key: str | None = None, catalog: ModelCatalog | None = None,
) -> tuple[Dataset, bool]:
    """Validate and record a staged upload. Returns (dataset, created).

    What can never be a dataset (``sniff.py``: empty, binary, not UTF-8) is refused before
    anything is stored. With an idempotency key, a repeat with the same bytes and options returns the first dataset
    and stores nothing new; different bytes or options → 422. The unique (tenant, key) constraint
    settles concurrent repeats. The staged file is always consumed.
    """
    try:
        refuse_non_dataset(staged.path, staged.size)  # 422 unsupported_file; nothing is stored
    except UnsupportedFile:
        staged.discard()
        raise
    name = (options.name or staged.filename or "dataset.jsonl").strip() or "dataset.jsonl"
    options = replace(options, name=name)
    fingerprint = options.fingerprint(staged.sha256)
    existing = idempotency.replayed(session, Dataset, tenant_id, idempotency_key, fingerprint, what="upload")
    if existing is not None:
        staged.discard()
        return existing, False
    blob = store.adopt(staged.path, staged.sha256, staged.size)
    validation = validate_upload(blob.path, options, store, catalog)
    dataset = Dataset(
        tenant_id=tenant_id, name=name[:500], sha256=blob.sha256, bytes=blob.size,
        canonical_sha256=validation.canonical.sha256 if validation.canonical else None,
        canonical_bytes=validation.canonical.size if validation.canonical else None,
        format=validation.format, num_examples=validation.num_examples, status=validation.status,
        report=validation.report, idempotency_key=idempotency_key, request_hash=fingerprint,
    )
    dataset, created = idempotency.insert_once(session, dataset, key=idempotency_key, fingerprint=fingerprint,
                                               what="upload")
    if not created:
        return dataset, False
    log.info("dataset %s stored for tenant %s: %s, %d examples", dataset.id, tenant_id, dataset.status,
             dataset.num_examples)
    return dataset, True



def first_errors(dataset: Dataset, limit: int = 5) -> tuple[str, list[dict[str, Any]]]:
    """The first problems of an invalid dataset, as one readable line and as data (for refusals)."""
    errors: list[dict[str, Any]] = (dataset.report or {}).get("errors", [])[:limit]
    listed = "; ".join(f"line {e.get('line')}: {e.get('code')}: {e.get('message')}" for e in errors)
    return listed or "see its report", errors


def get_dataset(session: Session, tenant_id: str, dataset_id: str) -> Dataset:
    return get_owned(session, Dataset, tenant_id, dataset_id)


def list_datasets(session: Session, tenant_id: str, *, limit: int, after: str | None) -> tuple[list[Dataset], bool]:
    return page(session, owned(Dataset, tenant_id), Dataset.id, limit=limit, after=after, newest_first=True)


def content_blob(dataset: Dataset, variant: Variant) -> str:
    """The sha256 of the bytes to serve: the canonical JSONL by default, or what was uploaded."""
    if variant == "original":
        return dataset.sha256
    if dataset.canonical_sha256 is None:
        raise Conflict(f"dataset {dataset.id} is {dataset.status} and has no canonical form; "
                       f"ask for variant=original", details={"status": dataset.status})
    return dataset.canonical_sha256


class BlobMissing(RuntimeError):
    """A dataset row whose bytes are gone from storage: an operator problem, not the client's."""


def iter_content(store: BlobStore, sha256: str) -> Iterator[bytes]:
    """Checked before streaming starts, so a missing blob is a clean error rather than a cut-off body."""
    if not store.exists(sha256):
        raise BlobMissing(f"blob {sha256} is missing from {store.root}")
    return store.iter_bytes(sha256)


# --- splitting ------------------------------------------------------------------------------------

SplitRole = Literal["train", "validation", "test"]


def split_dataset(
    session: Session, tenant_id: str, dataset_id: str, *, validation_fraction: float, seed: int,
    store: BlobStore, catalog: ModelCatalog | None = None, test_fraction: float = 0.0, stratify: bool = False,
) -> tuple[Dataset, Dataset, Dataset | None, bool]:
    """Two or three child datasets from a valid parent's canonical JSONL. Returns (train, validation,
    test or None, created).

    Deterministic (``core.datasets.split``): the same parent, fractions, seed and stratification
    always give the same children, so a repeated request returns the children it made the first
    time instead of new rows. Each child is validated like an upload and records its parent and role.
    """
    parent = get_dataset(session, tenant_id, dataset_id)
    if parent.status != DatasetStatus.VALID or parent.canonical_sha256 is None:
        listed, errors = first_errors(parent)
        raise Unprocessable(f"dataset {dataset_id} is invalid and cannot be split: {listed}",
                            details={"param": "dataset_id", "errors": errors})
    try:
        part_sizes(parent.num_examples, validation_fraction, test_fraction)
    except ValueError as exc:
        raise Unprocessable(str(exc), details={"param": "test_fraction" if test_fraction else
                                               "validation_fraction"}) from exc
    request: dict[str, Any] = {"parent": parent.id, "fraction": validation_fraction, "seed": seed}
    if test_fraction or stratify:  # the two-way request keeps its original fingerprint
        request.update(test_fraction=test_fraction, stratify=stratify)
    fingerprint = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
    wanted: set[str] = {"train", "validation", "test"} if test_fraction else {"train", "validation"}
    earlier = {child.split_role: child for child in session.scalars(
        owned(Dataset, tenant_id).where(Dataset.parent_id == parent.id, Dataset.request_hash == fingerprint))}
    if earlier.keys() == wanted:
        return earlier["train"], earlier["validation"], earlier.get("test"), False
    train_tmp, validation_tmp, test_tmp = store.temp_path(), store.temp_path(), store.temp_path()
    try:
        split_file(store.path_for(parent.canonical_sha256), train_tmp, validation_tmp,
                   validation_fraction=validation_fraction, seed=seed, test_path=test_tmp,
                   test_fraction=test_fraction, stratify=stratify)
        roles: list[tuple[SplitRole, Path]] = [("train", train_tmp), ("validation", validation_tmp)]
        if test_fraction:
            roles.append(("test", test_tmp))
        children = {role: _child(session, parent, role, tmp, fingerprint, store, catalog) for role, tmp in roles}
    finally:
        for tmp in (train_tmp, validation_tmp, test_tmp):
            tmp.unlink(missing_ok=True)
    log.info("dataset %s split into %s", parent.id,
             ", ".join(f"{role} {child.id} ({child.num_examples})" for role, child in children.items()))
    return children["train"], children["validation"], children.get("test"), True


def _child(session: Session, parent: Dataset, role: SplitRole, path: Path, fingerprint: str, store: BlobStore,
           catalog: ModelCatalog | None) -> Dataset:
    blob = store.put_file(path)
    stem = parent.name.rsplit(".", 1)[0] if "." in parent.name else parent.name
    model = (parent.report or {}).get("model")
    validation = validate_upload(blob.path, DatasetOptions(name=f"{stem}.{role}.jsonl", model=model), store, catalog)
    child = Dataset(
        tenant_id=parent.tenant_id, name=f"{stem}.{role}.jsonl"[:500], sha256=blob.sha256, bytes=blob.size,
        canonical_sha256=validation.canonical.sha256 if validation.canonical else None,
        canonical_bytes=validation.canonical.size if validation.canonical else None,
        format=validation.format, num_examples=validation.num_examples, status=validation.status,
        report=validation.report, parent_id=parent.id, split_role=role, request_hash=fingerprint,
    )
    session.add(child)
    session.flush()
    return child
