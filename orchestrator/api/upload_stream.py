"""Streaming multipart receiver: the request body goes straight to disk through AtomicFileWriter.

Why not ``await request.form()`` / ``UploadFile``: Starlette spools every file part into a
SpooledTemporaryFile first, so a 2 GiB input would be written twice (spool, then the run
directory) and hashed in a third pass. Here python-multipart's push parser is fed from
``request.stream()`` and its part-data callback writes + hashes the bytes once, into a temp file
beside the destination that is renamed only when the whole body has arrived.

Throughput and memory: the event loop only receives; body chunks are grouped into batches of
about ``BATCH_BYTES`` and handed, in order, to one worker thread per upload that parses, writes
and hashes them (one writev and one hash job per batch, side by side: AtomicFileWriter.write_many).
Up to ``QUEUE_DEPTH`` batches may be in flight, so network and disk overlap; memory per upload stays a few MiB whatever
the file size. No byte is copied on our side: the parser hands out memoryview slices.

The route must take the raw ``Request`` (no ``Form``/``File`` parameters, which would consume the
body first) and map ``UploadError`` to its JSON error with ``status``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from orchestrator.store.uploads import AtomicFileWriter, UploadError, sanitize_filename

BATCH_BYTES = 1 << 20  # parse/hash/write about 1 MiB per worker-thread hop (measured best of 0.5, 1, 4)
QUEUE_DEPTH = 4  # batches handed to the worker and not yet done
MAX_ENVELOPE_BYTES = 1 << 20  # multipart boundaries, part headers and small fields around the file
MAX_FIELDS = 32  # plain (non-file) form fields accepted beside the file
MAX_FIELD_BYTES = 64 * 1024  # per plain field


@dataclass(frozen=True)
class ReceivedFile:
    """A file that has landed: ``path`` = dest_dir / ``filename`` (sanitised), its size and sha256 (hex)."""

    filename: str
    path: Path
    size: int
    sha256: str
    fields: dict[str, str] = field(default_factory=dict)  # other (small, text) form fields, if any


class _Sink:
    """python-multipart callbacks. Runs only inside the worker thread, one batch at a time."""

    def __init__(self, boundary: bytes, dest_dir: Path, max_bytes: int, field_name: str, charset: str) -> None:
        self.dest_dir = dest_dir
        self.max_bytes = max_bytes
        self.field_name = field_name
        self.charset = charset
        self.writer: AtomicFileWriter | None = None
        self.filename = ""
        self.file_done = False
        self.ended = False
        self.failed = False
        self._views: list[memoryview] = []
        self.fields: dict[str, str] = {}
        self._header_name = b""
        self._header_value = b""
        self._disposition: bytes | None = None
        self._in_file = False
        self._field: str | None = None
        self._field_buf = bytearray()
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value_cb,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_end": self._end,
            },
        )

    def feed(self, chunks: list[bytes]) -> None:
        """Parse one batch of body chunks; file bytes are written by the callbacks. After a failure, a no-op."""
        if self.failed:
            return
        try:
            for data in chunks:  # chunk by chunk: joining them would copy every byte once more
                self.parser.write(data)
            self._flush()
        except FormParserError as exc:
            self.failed = True
            raise UploadError(400, "bad_multipart", f"the multipart body is malformed: {exc}") from exc
        except BaseException:
            self.failed = True
            raise

    # -- callbacks ------------------------------------------------------------------------------
    def _part_begin(self) -> None:
        self._disposition = None
        self._in_file = False
        self._field = None
        self._field_buf = bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_cb(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = b""
        self._header_value = b""

    def _headers_finished(self) -> None:
        disposition, options = parse_options_header(self._disposition)
        if disposition != b"form-data" or b"name" not in options:
            raise UploadError(400, "bad_multipart", "a multipart part has no 'Content-Disposition: form-data; name=…'")
        name = options[b"name"].decode("latin-1")
        if b"filename" not in options:
            if name in self.fields or len(self.fields) >= MAX_FIELDS:
                raise UploadError(400, "bad_multipart", f"repeated or too many form fields ({name!r})")
            self._field = name
            return
        if name != self.field_name:
            raise UploadError(
                400, "unexpected_file", f"files are accepted in the form field {self.field_name!r} only, not {name!r}"
            )
        if self.writer is not None:
            raise UploadError(400, "too_many_files", "send one file per upload request")
        raw = options[b"filename"]
        if not raw:
            raise UploadError(400, "missing_filename", "the uploaded file part has no file name")
        try:
            # Header bytes arrive as latin-1; clients send the name in the form's charset (UTF-8).
            filename = raw.decode(self.charset)
        except (UnicodeDecodeError, LookupError):
            raise UploadError(400, "bad_filename", "the file name is not valid UTF-8") from None
        self.filename = sanitize_filename(filename)
        self.writer = AtomicFileWriter(self.dest_dir / self.filename, self.max_bytes).open()
        self._in_file = True

    def _flush(self) -> None:
        # The file bytes of a whole batch go out in one writev + one hash job (see write_many).
        if self._views:
            views, self._views = self._views, []
            assert self.writer is not None
            self.writer.write_many(views)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._views.append(memoryview(data)[start:end])  # no copy; written at the end of the batch
        elif self._field is not None:
            if len(self._field_buf) + (end - start) > MAX_FIELD_BYTES:
                raise UploadError(
                    413, "field_too_large", f"the form field {self._field!r} is larger than {MAX_FIELD_BYTES} bytes"
                )
            self._field_buf += data[start:end]

    def _part_end(self) -> None:
        if self._in_file:
            self._flush()
            self.file_done = True
            self._in_file = False
        elif self._field is not None:
            self.fields[self._field] = self._field_buf.decode(self.charset, errors="replace")
            self._field = None

    def _end(self) -> None:
        self.ended = True


async def receive_multipart_file(
    request: Request, dest_dir: Path, max_bytes: int, field_name: str = "file"
) -> ReceivedFile:
    """Stream a ``multipart/form-data`` upload into ``dest_dir/<sanitised filename>``, atomically.

    Exactly one file part, in form field ``field_name``, is accepted. The file replaces an existing
    file of the same name only once the whole body has arrived intact. Raises ``UploadError``:
    400 ``not_multipart`` / ``bad_multipart`` / ``missing_filename`` / ``bad_filename`` /
    ``too_many_files`` / ``unexpected_file`` / ``incomplete_upload`` (client disconnected or body
    cut short: nothing written, an earlier file of that name intact), 413 ``file_too_large`` /
    ``field_too_large``, 422 ``missing_file``.
    """
    ctype, params = parse_options_header(request.headers.get("content-type"))
    if ctype != b"multipart/form-data":
        raise UploadError(400, "not_multipart", "send the file as multipart/form-data (curl -F 'file=@path')")
    boundary = params.get(b"boundary")
    if not boundary:
        raise UploadError(400, "bad_multipart", "the multipart Content-Type has no boundary")
    charset = params.get(b"charset", b"utf-8").decode("latin-1")
    body_limit = max_bytes + MAX_ENVELOPE_BYTES
    declared = request.headers.get("content-length", "")
    too_large = UploadError(413, "file_too_large", f"the upload is larger than the limit of {max_bytes} bytes")
    if declared.isdigit() and int(declared) > body_limit:
        raise too_large  # refused before reading a byte: the body cannot fit whatever the envelope

    try:
        sink = _Sink(boundary, Path(dest_dir), max_bytes, field_name, charset)
    except (ValueError, FormParserError) as exc:
        raise UploadError(400, "bad_multipart", f"bad multipart boundary: {exc}") from exc
    loop = asyncio.get_running_loop()
    # One worker thread per upload parses, hashes and writes batches strictly in order while this
    # coroutine keeps receiving: the network and the disk overlap, and up to QUEUE_DEPTH batches
    # in flight absorb the disk's latency spikes. Memory stays bounded by (QUEUE_DEPTH + 1) batches.
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="upload")
    inflight: deque[asyncio.Future[Any]] = deque()

    async def hand_off(batch: list[bytes]) -> None:
        if len(inflight) >= QUEUE_DEPTH:
            await inflight[0]  # re-raises the worker's UploadError, if any
            inflight.popleft()  # only once done: the finally below must see every unfinished one
        inflight.append(loop.run_in_executor(worker, sink.feed, batch))

    pending: list[bytes] = []
    pending_bytes = 0
    received = 0
    try:
        try:
            async for chunk in request.stream():
                if not chunk:
                    continue
                received += len(chunk)
                if received > body_limit:
                    raise too_large
                pending.append(chunk)
                pending_bytes += len(chunk)
                if pending_bytes >= BATCH_BYTES:
                    await hand_off(pending)
                    pending, pending_bytes = [], 0
        except ClientDisconnect:
            raise UploadError(400, "incomplete_upload", "the client disconnected before the upload completed") from None
        if pending:
            await hand_off(pending)
            pending = []
        while inflight:
            await inflight[0]
            inflight.popleft()
        if sink.writer is None:
            raise UploadError(422, "missing_file", f"no file in the form field {field_name!r}")
        if not (sink.file_done and sink.ended):
            raise UploadError(400, "incomplete_upload", "the multipart body ended before the file was complete")
        writer = sink.writer
        # fsync + rename can block for a while on a big file: keep it off the event loop. Tracked in
        # `inflight` so that a cancellation waits for it instead of aborting under it.
        inflight.append(loop.run_in_executor(worker, writer.commit))
        path = await inflight[0]
        inflight.popleft()
        return ReceivedFile(sink.filename, path, writer.size, writer.sha256, dict(sink.fields))
    finally:
        # Never delete the temp under a worker that is still writing it: wait for it, even when this
        # task is being cancelled (a few batches of BATCH_BYTES: short). The abort itself may wait for
        # a background fdatasync, so it runs on the worker too, not on the event loop.
        with anyio.CancelScope(shield=True):
            if inflight:
                sink.failed = True  # queued batches are skipped
                await asyncio.wait(set(inflight))
                for fut in inflight:
                    if not fut.cancelled():
                        fut.exception()  # retrieved: the first error was already reported
            if sink.writer is not None and not sink.writer.committed:
                await loop.run_in_executor(worker, sink.writer.abort)
        worker.shutdown(wait=False)
