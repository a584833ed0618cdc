"""Id ordering and the content-addressed blob store."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from core.ids import new_id
from core.storage import BlobStore, BlobTooLarge


def test_ids_sort_in_creation_order_and_carry_their_prefix() -> None:
    ids = [new_id("job") for _ in range(2000)]
    assert ids == sorted(ids), "ids must be time-ordered so newest-first is ORDER BY id DESC"
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("job_") for i in ids)


def test_identical_content_is_stored_once(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    payload = b'{"messages": []}\n' * 1000
    first = store.put_stream(io.BytesIO(payload))
    second = store.put_stream(io.BytesIO(payload))
    assert first.sha256 == second.sha256 == hashlib.sha256(payload).hexdigest()
    assert first.size == len(payload)
    assert b"".join(store.iter_bytes(first.sha256)) == payload
    blobs = [p for p in tmp_path.rglob("*") if p.is_file() and p.relative_to(tmp_path).parts[0] != "tmp"]
    assert len(blobs) == 1


def test_over_the_limit_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    with pytest.raises(BlobTooLarge):
        store.put_stream(io.BytesIO(b"x" * 5000), max_bytes=4096)
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert leftovers == [], f"a refused upload must leave no file behind: {leftovers}"


def test_path_for_refuses_anything_but_a_digest(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a sha256 hex digest"):
        BlobStore(tmp_path).path_for("../../etc/passwd")
