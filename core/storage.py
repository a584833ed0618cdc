"""Content-addressed blob storage on the local filesystem.

Blobs live at ``<storage_dir>/<sha[:2]>/<sha>``; identical content is stored once. Writes go to a
temporary file in the same directory and are renamed into place, so a crash never leaves a
partial blob under a real name, and readers never see one.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size: int
    path: Path


class BlobTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"content exceeds the limit of {limit} bytes")
        self.limit = limit


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def temp_path(self) -> Path:
        """A fresh temporary file under the store (same filesystem, so adopting it is a rename)."""
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmp_dir)
        os.close(fd)
        return Path(name)

    def put_stream(self, source: BinaryIO, *, max_bytes: int | None = None) -> StoredBlob:
        """Copy a stream in chunks, hashing as it goes; refuses (and removes) past ``max_bytes``."""
        tmp = self.temp_path()
        digest = hashlib.sha256()
        size = 0
        try:
            with tmp.open("wb") as out:
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise BlobTooLarge(max_bytes)
                    digest.update(chunk)
                    out.write(chunk)
            return self.adopt(tmp, digest.hexdigest(), size)
        finally:
            tmp.unlink(missing_ok=True)

    def put_file(self, path: Path) -> StoredBlob:
        """Move a finished temporary file (from :meth:`temp_path`) into place under its hash."""
        digest = hashlib.sha256()
        size = 0
        with Path(path).open("rb") as src:
            while chunk := src.read(CHUNK):
                size += len(chunk)
                digest.update(chunk)
        return self.adopt(Path(path), digest.hexdigest(), size)

    def adopt(self, tmp: Path, sha256: str, size: int) -> StoredBlob:
        final = self.path_for(sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            tmp.unlink(missing_ok=True)
        else:
            os.replace(tmp, final)
        return StoredBlob(sha256=sha256, size=size, path=final)

    def iter_bytes(self, sha256: str) -> Iterator[bytes]:
        with self.path_for(sha256).open("rb") as src:
            while chunk := src.read(CHUNK):
                yield chunk


def get_blob_store() -> BlobStore:
    from core.config import get_settings

    return BlobStore(get_settings().storage_path)
