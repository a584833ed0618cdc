"""Reading a dataset file one record at a time: JSONL lines or CSV/TSV rows, never the whole file.

A source yields ``(line, record)`` where ``record`` is the parsed object, or a :class:`LineProblem`
for a line that could not be read (bad bytes, bad JSON, a blank line in the middle, a line too
long to hold). Lines are read with a size cap, so a file with no newline at all still costs at
most ``max_line_bytes`` of memory. What the source learns about the file as a whole (a byte-order
mark, blank lines at the end) it keeps in attributes for the report.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

from core.datasets.sniff import SNIFF_BYTES as BINARY_HEAD_BYTES

DEFAULT_MAX_LINE_BYTES = 32 * 1024 * 1024
SNIFF_BYTES = 64 * 1024
BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)

# Known two-column header pairs, in the order they are tried: (prompt column, completion column).
CSV_COLUMN_PAIRS: tuple[tuple[str, str], ...] = (
    ("prompt", "completion"),
    ("input", "output"),
    ("question", "answer"),
    ("user", "assistant"),
)


@dataclass(frozen=True)
class LineProblem:
    code: str
    message: str


class StopReading(LineProblem):
    """A problem after which the rest of the file cannot be read as this format."""


Record = tuple[int, Any]


def sniff(head: bytes) -> str:
    """Guess the container from the first bytes: jsonl, csv, tsv, empty, utf16 or binary."""
    if head.startswith(_UTF16_BOMS):
        return "utf16"
    if b"\x00" in head[:BINARY_HEAD_BYTES]:
        # No UTF-8 text has NUL bytes near its start (an image, an archive, UTF-16 without a BOM);
        # the API refuses those before storing (sniff.py). A NUL further in is that line's error.
        return "binary"
    text = head.removeprefix(BOM).lstrip()
    if not text:
        return "empty"
    if text[:1] in (b"{", b"["):
        return "jsonl"
    first_line = text.split(b"\n", 1)[0]
    if b"\t" in first_line:
        return "tsv"
    # Not CSV without a delimiter in the header: report such a file as broken JSONL instead.
    return "csv" if b"," in first_line else "jsonl"


@dataclass
class BlankRun:
    """Consecutive blank lines not (yet) followed by an example: errors if one follows, else a warning."""

    start: int = 0
    count: int = 0

    def add(self, line: int) -> None:
        if not self.count:
            self.start = line
        self.count += 1

    def lines(self, limit: int | None = None) -> range:
        return range(self.start, self.start + (self.count if limit is None else min(self.count, limit)))

    def flush(self) -> Iterator[Record]:
        for line in self.lines():
            yield line, LineProblem("blank_line", "blank line; every line must hold one example")
        self.count = 0


class JsonlSource:
    """JSON Lines: one object per line; CRLF endings and one final newline are fine."""

    def __init__(self, stream: IO[bytes], max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, *, first_line: int = 1,
                 starts_file: bool | None = None) -> None:
        """``first_line`` > 1 reads a later part of a file (``stream`` starts at that line). A later part
        may also be numbered from 1 (its lines are shifted afterwards): ``starts_file=False`` then says
        that its first line is not the file's, so no byte-order mark or JSON array is looked for."""
        self._stream = stream
        self._max = max_line_bytes
        self._first_line = first_line
        self._starts_file = first_line == 1 if starts_file is None else starts_file
        self.has_bom = False
        self.num_lines = 0
        self.trailing_blanks = BlankRun()

    def _skip_rest_of_line(self) -> None:
        while True:
            chunk = self._stream.readline(self._max)
            if not chunk or chunk.endswith(b"\n"):
                return

    def __iter__(self) -> Iterator[Record]:
        readline = self._stream.readline
        limit = self._max + 1
        loads = orjson.loads
        blanks = self.trailing_blanks
        line = self._first_line - 1
        while raw := readline(limit):
            line += 1
            if len(raw) == limit and not raw.endswith(b"\n"):
                self._skip_rest_of_line()
                yield from blanks.flush()
                yield line, LineProblem("line_too_long", f"the line is longer than {self._max} bytes")
                continue
            if line == 1 and self._starts_file:
                if raw.startswith(BOM):
                    self.has_bom = True
                    raw = raw[len(BOM):]
                if raw.lstrip()[:1] == b"[":
                    self.num_lines = 1
                    yield line, StopReading("json_array", "the file is a JSON array; JSONL needs one JSON object "
                                            "per line, with no enclosing [ ] and no commas between lines")
                    return
            if raw.isspace():
                blanks.add(line)
                continue
            if blanks.count:
                yield from blanks.flush()
            try:
                record = loads(raw)
            except orjson.JSONDecodeError as exc:
                yield line, _json_problem(raw, exc)
                continue
            yield line, record
        self.num_lines = line - self._first_line + 1


def _json_problem(raw: bytes, exc: orjson.JSONDecodeError) -> LineProblem:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return LineProblem("invalid_utf8", f"byte 0x{raw[bad.start]:02x} at column {bad.start + 1} is not UTF-8; "
                                           "save the file as UTF-8")
    line = raw.rstrip(b"\r\n")
    if line.strip() == b"{":
        return LineProblem("invalid_json", "an object spans several lines; write each example on one line")
    try:  # again without the line end, so a cut-off line reads "unexpected end of data"
        orjson.loads(line)
    except orjson.JSONDecodeError as bare:
        exc = bare
    return LineProblem("invalid_json", f"not valid JSON: {exc.msg} at column {exc.colno}")


class CsvHeaderError(ValueError):
    pass


def choose_columns(header: list[str], columns: tuple[str, str] | None) -> tuple[int, int]:
    """Indices of the (prompt, completion) columns: the ones asked for, or a known pair."""
    names = [name.strip().lower() for name in header]
    if columns is not None:
        wanted = [name.strip().lower() for name in columns]
        missing = [name for name in wanted if name not in names]
        if missing:
            raise CsvHeaderError(f"column(s) {', '.join(map(repr, missing))} not in the header "
                                 f"({', '.join(map(repr, header))})")
        return names.index(wanted[0]), names.index(wanted[1])
    for prompt, completion in CSV_COLUMN_PAIRS:
        if prompt in names and completion in names:
            return names.index(prompt), names.index(completion)
    known = "; ".join(f"{a}/{b}" for a, b in CSV_COLUMN_PAIRS)
    raise CsvHeaderError(f"cannot tell which columns hold the prompt and the completion (header: "
                         f"{', '.join(map(repr, header))}); name them {known}, or say which with columns=A,B")


class _LineTooLong(Exception):
    pass


class CsvSource:
    """Two columns of a CSV or TSV file with a header row; each row becomes a prompt/completion."""

    def __init__(self, stream: IO[bytes], delimiter: str, columns: tuple[str, str] | None = None,
                 max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self._stream = stream
        self._delimiter = delimiter
        self._columns = columns
        self._max = max_line_bytes
        self.has_bom = False
        self.num_lines = 0
        self.trailing_blanks = BlankRun()
        self.header: list[str] | None = None
        self.chosen: tuple[str, str] | None = None

    def _lines(self, text: IO[str]) -> Iterator[str]:
        while line := text.readline(self._max + 1):
            if len(line) > self._max and not line.endswith(("\n", "\r")):
                raise _LineTooLong
            yield line

    def __iter__(self) -> Iterator[Record]:
        if self._stream.read(len(BOM)) == BOM:
            self.has_bom = True
        else:
            self._stream.seek(0)
        # surrogateescape keeps bad bytes visible as lone surrogates, so one bad row is reported
        # at its line instead of the whole read failing.
        text = io.TextIOWrapper(self._stream, encoding="utf-8", errors="surrogateescape", newline="")
        reader = csv.reader(self._lines(text), delimiter=self._delimiter, strict=True)
        blanks = self.trailing_blanks
        indices: tuple[int, int] | None = None
        previous_end = 0
        try:
            for row in reader:
                line, previous_end = previous_end + 1, reader.line_num
                if not row or (len(row) == 1 and not row[0].strip()):
                    blanks.add(line)
                    continue
                if blanks.count:
                    yield from blanks.flush()
                if indices is None:
                    self.header = row
                    try:
                        indices = choose_columns(row, self._columns)
                    except CsvHeaderError as exc:
                        yield line, StopReading("csv_columns", str(exc))
                        return
                    self.chosen = (row[indices[0]].strip(), row[indices[1]].strip())
                    continue
                if len(row) != len(self.header or ()):
                    yield line, LineProblem("invalid_csv", f"the row has {len(row)} fields; the header has "
                                                           f"{len(self.header or ())}")
                    continue
                prompt, completion = row[indices[0]], row[indices[1]]
                try:
                    prompt.encode("utf-8")
                    completion.encode("utf-8")
                except UnicodeEncodeError:
                    yield line, LineProblem("invalid_utf8", "the row has bytes that are not UTF-8; "
                                                            "save the file as UTF-8")
                    continue
                yield line, {"prompt": prompt, "completion": completion}
        except _LineTooLong:
            yield previous_end + 1, StopReading("line_too_long", f"a line is longer than {self._max} bytes")
            return
        except csv.Error as exc:
            yield previous_end + 1, StopReading("invalid_csv", f"cannot read the CSV from here on: {exc}")
            return
        finally:
            self.num_lines = previous_end
            text.detach()


def _raise_csv_field_limit() -> None:
    """The csv module refuses fields over 128 KiB by default; our cap is the line size instead."""
    if csv.field_size_limit() < DEFAULT_MAX_LINE_BYTES:
        csv.field_size_limit(DEFAULT_MAX_LINE_BYTES)


_raise_csv_field_limit()
