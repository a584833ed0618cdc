"""The dataset service: receive an upload, validate it, store it content-addressed, find it again.

Uploads never sit in memory whole: bytes go to a temporary file under the blob store while being
hashed and counted, and the size limit is enforced as they arrive (nothing is kept past it). A
dataset that fails validation is still stored, ``status: "invalid"`` with its report (DESIGN §8),
so the client sees every wrong line; jobs refuse it later. Functions here never commit.

Validation is one function, :func:`validate_upload`. Until the full validator of the datasets
issue lands (``core.datasets.ingest``), it runs a basic chat-format check defined below.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.catalog import DEFAULT_TOKEN_LIMIT
from core.datasets.tokens import count_text_tokens
from core.errors import Conflict, PayloadTooLarge, Unprocessable
from core.models import Dataset
from core.scoping import get_owned, owned, page
from core.storage import CHUNK, BlobStore, StoredBlob

log = logging.getLogger(__name__)

DatasetFormat = Literal["auto", "chat", "prompt_completion", "preference", "csv"]
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
    columns: tuple[str, ...] | None = None

    def fingerprint(self, sha256: str) -> str:
        """Same key + same bytes + same options = same dataset (idempotency)."""
        body = {"sha256": sha256, **asdict(self)}
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=list).encode()).hexdigest()


@dataclass
class Validation:
    format: str
    status: Literal["valid", "invalid"]
    num_examples: int
    report: dict[str, Any]
    canonical: StoredBlob | None = None


def validate_upload(path: Path, options: DatasetOptions, store: BlobStore) -> Validation:
    """The one entry point to validation; swap this body for ``core.datasets.ingest`` when it lands."""
    return _basic_chat_check(path, options, store)


MAX_REPORTED_ERRORS = 100
MIN_EXAMPLES = 10  # OpenAI refuses a training file with fewer
_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
_MESSAGE_KEYS = {"role", "content", "name", "function_call", "tool_calls", "tool_call_id", "weight"}
_ENCODING = "o200k_base"
# The cookbook's epoch heuristic: aim for ~3 epochs, stretched or shrunk to land in 100..25,000 examples seen.
_TARGET_EPOCHS, _MIN_EXAMPLES_SEEN, _MAX_EXAMPLES_SEEN, _MIN_EPOCHS, _MAX_EPOCHS = 3, 100, 25_000, 1, 25


@dataclass
class _Findings:
    errors: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, line: int, code: str, message: str) -> None:
        self.counts[code] += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append({"line": line, "code": code, "message": message})


def _example_problem(example: Any) -> tuple[str, str] | None:
    """The first thing wrong with one chat example, as (code, message), or None."""
    if not isinstance(example, dict):
        return "not_an_object", "each line must be a JSON object"
    messages = example.get("messages")
    if messages is None:
        if "prompt" in example or "completion" in example:
            return "unsupported_format", "prompt/completion examples are not accepted by the basic checker yet"
        return "missing_messages", "the example has no 'messages' list"
    if not isinstance(messages, list) or not messages:
        return "missing_messages", "'messages' must be a non-empty list"
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message:
            return "message_missing_key", f"messages[{index}] must be an object with 'role' and 'content'"
        unknown = sorted(set(message) - _MESSAGE_KEYS)
        if unknown:
            return "message_unrecognized_key", f"messages[{index}] has unrecognized key(s) {unknown}"
        if message["role"] not in _ROLES:
            return "unrecognized_role", f"messages[{index}] has role {message['role']!r}"
        content = message.get("content")
        if content is None and not (message["role"] == "assistant" and message.get("tool_calls")):
            return "missing_content", f"messages[{index}] has no content"
        if content is not None and not isinstance(content, str | list):
            return "invalid_content_type", f"messages[{index}].content must be a string or a list of parts"
    if not any(m.get("role") == "assistant" for m in messages):
        return "example_missing_assistant_message", "the example has no assistant message to learn from"
    return None


def _count_tokens(messages: list[dict[str, Any]]) -> int:
    """The cookbook's formula: 3 per message, each string value, +1 per name, +3 per conversation."""
    total = 3
    for message in messages:
        total += 3
        for key, value in message.items():
            if isinstance(value, str):
                total += count_text_tokens(value, _ENCODING)
            elif value is not None and key != "weight":
                total += count_text_tokens(json.dumps(value, ensure_ascii=False), _ENCODING)
            if key == "name":
                total += 1
    return total


def _epochs_for(n_examples: int) -> int:
    if n_examples == 0:
        return _TARGET_EPOCHS
    if n_examples * _TARGET_EPOCHS < _MIN_EXAMPLES_SEEN:
        return min(_MAX_EPOCHS, -(-_MIN_EXAMPLES_SEEN // n_examples))
    if n_examples * _TARGET_EPOCHS > _MAX_EXAMPLES_SEEN:
        return max(_MIN_EPOCHS, _MAX_EXAMPLES_SEEN // n_examples)
    return _TARGET_EPOCHS


def _report(findings: _Findings, tokens: list[int], fmt: str) -> dict[str, Any]:
    n_examples = len(tokens)
    return {
        "checker": "basic",
        "format": fmt,
        "num_examples": n_examples,
        "errors": findings.errors,
        "error_counts": dict(findings.counts),
        "encoding": _ENCODING,
        "token_limit": DEFAULT_TOKEN_LIMIT,
        "examples_over_limit": sum(1 for t in tokens if t > DEFAULT_TOKEN_LIMIT),
        "token_counts": {
            "total": sum(tokens),
            "min": min(tokens, default=0),
            "max": max(tokens, default=0),
            "mean": round(sum(tokens) / n_examples, 2) if n_examples else 0,
        },
        "n_epochs": _epochs_for(n_examples),
        "billed_tokens": sum(min(t, DEFAULT_TOKEN_LIMIT) for t in tokens),
    }


def _basic_chat_check(path: Path, options: DatasetOptions, store: BlobStore) -> Validation:
    """Chat-format JSONL only: line-numbered errors by kind, token counts, epochs, billed tokens.

    Writes the canonical JSONL (one compact object per line, blank lines dropped) as it reads, and
    keeps it only if the dataset is valid.
    """
    findings = _Findings()
    if options.format not in ("auto", "chat"):
        findings.add(0, "unsupported_format", f"format {options.format!r} is not accepted by the basic checker yet")
        return Validation(format=options.format, status="invalid", num_examples=0,
                          report=_report(findings, [], options.format))
    tokens: list[int] = []
    canonical_path = store.temp_path()
    try:
        with path.open("rb") as source, canonical_path.open("wb") as canonical:
            for number, raw in enumerate(source, start=1):
                if not raw.strip():
                    continue
                try:
                    example = json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    findings.add(number, "invalid_encoding", "the line is not valid UTF-8")
                    continue
                except json.JSONDecodeError as exc:
                    findings.add(number, "invalid_json", f"not valid JSON: {exc.msg} at column {exc.colno}")
                    continue
                problem = _example_problem(example)
                if problem is not None:
                    findings.add(number, *problem)
                    continue
                tokens.append(_count_tokens(example["messages"]))
                canonical.write(json.dumps(example, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
                canonical.write(b"\n")
        if len(tokens) < MIN_EXAMPLES and not findings.counts:
            findings.add(0, "too_few_examples", f"{len(tokens)} example(s); at least {MIN_EXAMPLES} are needed")
        valid = not findings.counts
        canonical_blob = store.put_file(canonical_path) if valid else None
    finally:
        canonical_path.unlink(missing_ok=True)
    return Validation(format="chat", status="valid" if valid else "invalid", num_examples=len(tokens),
                      report=_report(findings, tokens, "chat"), canonical=canonical_blob)


# --- storing and reading --------------------------------------------------------------------------


def create_dataset(
    session: Session, tenant_id: str, staged: StagedUpload, options: DatasetOptions, *,
    store: BlobStore, idempotency_key: str | None = None,
) -> tuple[Dataset, bool]:
    """Validate and record a staged upload. Returns (dataset, created).

    With an idempotency key, a repeat with the same bytes and options returns the first dataset
    and stores nothing new; different bytes or options → 422. The unique (tenant, key) constraint
    settles concurrent repeats. The staged file is always consumed.
    """
    name = (options.name or staged.filename or "dataset.jsonl").strip() or "dataset.jsonl"
    options = DatasetOptions(name=name, format=options.format, system_prompt=options.system_prompt,
                             columns=options.columns)
    fingerprint = options.fingerprint(staged.sha256)
    if idempotency_key is not None:
        existing = _dataset_for_key(session, tenant_id, idempotency_key)
        if existing is not None:
            staged.discard()
            return _replay(existing, fingerprint, idempotency_key), False
    blob = store.adopt(staged.path, staged.sha256, staged.size)
    validation = validate_upload(blob.path, options, store)
    dataset = Dataset(
        tenant_id=tenant_id, name=name[:500], sha256=blob.sha256, bytes=blob.size,
        canonical_sha256=validation.canonical.sha256 if validation.canonical else None,
        canonical_bytes=validation.canonical.size if validation.canonical else None,
        format=validation.format, num_examples=validation.num_examples, status=validation.status,
        report=validation.report, idempotency_key=idempotency_key, request_hash=fingerprint,
    )
    try:
        with session.begin_nested():
            session.add(dataset)
            session.flush()
    except IntegrityError:
        winner = _dataset_for_key(session, tenant_id, idempotency_key) if idempotency_key else None
        if winner is None:
            raise
        return _replay(winner, fingerprint, idempotency_key or ""), False
    log.info("dataset %s stored for tenant %s: %s, %d examples", dataset.id, tenant_id, dataset.status,
             dataset.num_examples)
    return dataset, True


def _dataset_for_key(session: Session, tenant_id: str, key: str) -> Dataset | None:
    return session.scalars(owned(Dataset, tenant_id).where(Dataset.idempotency_key == key)).first()


def _replay(dataset: Dataset, fingerprint: str, key: str) -> Dataset:
    if dataset.request_hash != fingerprint:
        raise Unprocessable(f"Idempotency-Key {key!r} was already used with a different upload",
                            details={"param": "Idempotency-Key", "dataset_id": dataset.id})
    return dataset


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
