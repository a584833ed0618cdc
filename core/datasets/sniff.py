"""What can never be a dataset, judged from the first 8 KiB before anything is stored.

A text dataset with wrong lines is still stored (201, ``status: "invalid"``) so its owner can see
every line that is wrong. An upload that is not text at all — empty, a NUL byte or bytes that are
not UTF-8 near the start, or a known binary signature (an image, an archive, a spreadsheet, a PDF)
— has no lines to report on; storing it would only let a client that checks the status code
believe it worked. Those are refused with 422 ``unsupported_file``. Past the first 8 KiB, a NUL or
a bad byte is an ordinary line error.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from core.errors import Unprocessable

SNIFF_BYTES = 8 * 1024

#: (leading bytes, what it is). Longer, more specific signatures first.
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an XLSX/DOCX/ODS document, which are ZIP archives)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"PK\x07\x08", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip file (decompress it first)"),
    (b"\xfd7zXZ\x00", "an xz file (decompress it first)"),
    (b"\x28\xb5\x2f\xfd", "a zstd file (decompress it first)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an OLE2 document (an old .xls or .doc)"),
    (b"PAR1", "a Parquet file (export it as JSONL or CSV)"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x7fELF", "an executable"),
)
_BZIP2 = re.compile(rb"BZh[1-9]1AY&SY")


class UnsupportedFile(Unprocessable):
    """422: the upload is not a text dataset at all; nothing was stored."""

    error_type = "unsupported_file"


def why_not_a_dataset(head: bytes, *, whole: bool) -> str | None:
    """The reason ``head`` (the first bytes; ``whole`` if that is the entire file) can't be a dataset."""
    if not head:
        return "the file is empty"
    for signature, kind in SIGNATURES:
        if head.startswith(signature):
            return f"the file is {kind}, not a JSONL or CSV text file"
    if _BZIP2.match(head):
        return "the file is a bzip2 file (decompress it first), not a JSONL or CSV text file"
    nul = head.find(b"\x00")
    if nul >= 0:
        return f"the file has a NUL byte at offset {nul}: it is binary (or UTF-16), not UTF-8 text"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=whole)  # a character cut at the 8 KiB edge is not an error
    except UnicodeDecodeError as exc:
        return f"the file is not UTF-8 text (byte 0x{head[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
    return None


def refuse_non_dataset(path: Path, size: int) -> None:
    """Raise :class:`UnsupportedFile` for a staged upload that can never be a dataset."""
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    reason = why_not_a_dataset(head, whole=size <= SNIFF_BYTES)
    if reason is not None:
        raise UnsupportedFile(f"not a dataset: {reason}", details={"param": "file", "bytes": size})
