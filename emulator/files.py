"""Uploaded and generated files, kept in memory (guarded by the state's lock; saved by ``persistence.py``)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from emulator import ids
from emulator.errors import not_found
from emulator.pagination import paginate

MAX_UPLOAD_BYTES = 512 * 1024 * 1024


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int
    seq: int
    expires_at: int | None = None

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"object": "file", "id": self.id, "purpose": self.purpose,
                                "filename": self.filename, "bytes": len(self.content),
                                "created_at": self.created_at, "status": "processed"}
        if self.expires_at is not None:
            body["expires_at"] = self.expires_at
        return body


class FileStore:
    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}
        self._seq = itertools.count()

    def add(self, filename: str, purpose: str, content: bytes, created_at: float,
            expires_at: int | None = None, file_id: str | None = None) -> StoredFile:
        record = StoredFile(file_id or ids.file_id(), filename, purpose, content, int(created_at), next(self._seq),
                            expires_at)
        self._files[record.id] = record
        return record

    def restore(self, records: list[StoredFile]) -> None:
        """Put back files loaded from a state file (in their original order)."""
        for record in records:
            self._files[record.id] = record
        self._seq = itertools.count(max((r.seq for r in records), default=-1) + 1)

    def get(self, file_id: str) -> StoredFile:
        record = self._files.get(file_id)
        if record is None:
            raise not_found(f"No such File object: {file_id}", param="id")
        return record

    def find(self, file_id: str) -> StoredFile | None:
        return self._files.get(file_id)

    def delete(self, file_id: str) -> StoredFile:
        record = self.get(file_id)
        del self._files[file_id]
        return record

    def page(self, *, purpose: str | None, after: str | None, limit: int, order: str) -> tuple[list[StoredFile], bool]:
        chosen = [f for f in self._files.values() if purpose is None or f.purpose == purpose]
        chosen.sort(key=lambda f: (f.created_at, f.seq), reverse=(order == "desc"))
        return paginate(chosen, after, limit, key=lambda f: f.id)
