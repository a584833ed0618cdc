"""Streaming ``multipart/form-data`` reception for dataset uploads.

Starlette's ``request.form()`` spools the whole file to the system temp directory before the route
sees it, so a size limit would only be checked after a 10 GB upload had landed. Here the body is
parsed as it arrives: the file part goes straight into a :class:`core.datasets.service.UploadStager`
(a temp file under the blob store, hashed as written, refused past the limit), the small text
fields are kept in memory with their own cap. Disk writes happen off the event loop, in batches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from api.text_guard import check_text
from core.datasets.service import StagedUpload, UploadStager
from core.errors import BadRequest, PayloadTooLarge

FLUSH_BYTES = 1024 * 1024
MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 16
FORM_OVERHEAD_BYTES = 1024 * 1024  # room for the text fields and part headers beside the file


@dataclass
class ReceivedForm:
    staged: StagedUpload
    fields: dict[str, str] = field(default_factory=dict)


class _FormState:
    """The parser's callbacks: which part we are in, and where its bytes go."""

    def __init__(self, file_field: str) -> None:
        self.file_field = file_field
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.headers: dict[bytes, bytes] = {}
        self.part_name: str | None = None
        self.filename: str | None = None
        self.in_file = False
        self.file_seen = False
        self.pending = bytearray()  # file bytes parsed but not yet written
        self.field_buffer = bytearray()
        self.fields: dict[str, str] = {}
        self.parts = 0
        self.ended = False

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise BadRequest(f"the form has more than {MAX_PARTS} parts")
        self.headers = {}
        self.part_name = None
        self.in_file = False
        self.field_buffer = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[bytes(self.header_field).lower()] = bytes(self.header_value)
        self.header_field = bytearray()
        self.header_value = bytearray()

    def on_headers_finished(self) -> None:
        disposition, params = parse_options_header(self.headers.get(b"content-disposition"))
        if disposition != b"form-data" or b"name" not in params:
            raise BadRequest("each form part needs 'Content-Disposition: form-data; name=…'")
        self.part_name = params[b"name"].decode("utf-8", "replace")
        if self.part_name == self.file_field:
            if self.file_seen:
                raise BadRequest(f"the form has more than one {self.file_field!r} part")
            self.file_seen = True
            self.in_file = True
            raw_name = params.get(b"filename")
            self.filename = raw_name.decode("utf-8", "replace").rsplit("/", 1)[-1] if raw_name else None

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            self.pending += data[start:end]
            return
        self.field_buffer += data[start:end]
        if len(self.field_buffer) > MAX_FIELD_BYTES:
            raise BadRequest(f"form field {self.part_name!r} is longer than {MAX_FIELD_BYTES} bytes")

    def on_end(self) -> None:
        self.ended = True

    def on_part_end(self) -> None:
        if not self.in_file and self.part_name is not None:
            try:
                self.fields[self.part_name] = self.field_buffer.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BadRequest(f"form field {self.part_name!r} is not valid UTF-8") from exc
        self.in_file = False


def _boundary(request: Request) -> bytes:
    content_type, params = parse_options_header(request.headers.get("content-type"))
    if content_type != b"multipart/form-data" or not params.get(b"boundary"):
        raise BadRequest("send the dataset as multipart/form-data with a 'file' part")
    return params[b"boundary"]


async def receive_form(request: Request, new_stager: Callable[[], UploadStager], *, max_bytes: int,
                       file_field: str = "file") -> ReceivedForm:
    """Parse the body as it streams in; 413 as soon as the file passes ``max_bytes``.

    A ``Content-Length`` that is already too large is refused before reading a byte.
    """
    boundary = _boundary(request)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + FORM_OVERHEAD_BYTES:
        raise PayloadTooLarge(f"upload exceeds the limit of {max_bytes} bytes", details={"limit_bytes": max_bytes})
    state = _FormState(file_field)
    parser = MultipartParser(boundary, {
        "on_part_begin": state.on_part_begin, "on_part_data": state.on_part_data, "on_part_end": state.on_part_end,
        "on_header_field": state.on_header_field, "on_header_value": state.on_header_value,
        "on_header_end": state.on_header_end, "on_headers_finished": state.on_headers_finished,
        "on_end": state.on_end,
    })
    stager = new_stager()
    try:
        async for chunk in request.stream():
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                raise BadRequest(f"malformed multipart body: {exc}") from exc
            if len(state.pending) >= FLUSH_BYTES:
                await _flush(state, stager)
            if state.ended:  # past the closing boundary there is nothing for us: read no further
                break
        parser.finalize()
        await _flush(state, stager)
        if not state.ended:
            raise BadRequest("malformed multipart body: it ends before the closing boundary")
        if not state.file_seen:
            raise BadRequest(f"the form has no {file_field!r} part", details={"param": file_field})
        for name, value in state.fields.items():
            check_text(f"form field {name!r}", value)
        if state.filename is not None:
            check_text("the file's name", state.filename)
        staged = stager.finish(state.filename)
    except BaseException:
        stager.discard()
        raise
    return ReceivedForm(staged=staged, fields=state.fields)


async def _flush(state: _FormState, stager: UploadStager) -> None:
    if state.pending:
        chunk = bytes(state.pending)
        state.pending.clear()
        await run_in_threadpool(stager.write, chunk)
