"""Upload building blocks: filename sanitising and an atomic, hashing, size-capped file writer.

Invariants (DESIGN.md §4 Inputs, Security):
- a file lands in its directory only complete: bytes go to a temp file *in the same directory*
  (``.upload-<random>.part``) and ``os.replace`` moves it onto the destination, so an interrupted
  upload leaves nothing behind and never spoils an earlier good copy of the same name;
- the sha256 is computed in the same pass as the write (no second read of a multi-GB file);
- the size cap is enforced while writing: the temp is deleted and ``UploadError(413)`` raised.

Filename policy (``sanitize_filename``): names are *refused*, never silently rewritten, so the user
always knows under which name the file is stored. Refused (400 ``bad_filename``):
- empty, ``.`` and ``..``; any name starting with ``.`` (hidden files; it also keeps user names
  out of the ``.upload-*.part`` temp namespace, so a user can never hit or clobber a temp file);
- path separators ``/`` and ``\\`` and their Unicode look-alikes (fullwidth/division/fraction slash,
  reverse solidus variants), also when they only appear after NFKC normalisation (``．．`` → ``..``);
- control characters (C0, DEL, C1), Unicode format characters (bidi overrides such as U+202E,
  zero-width characters, BOM), line/paragraph separators, surrogates and unassigned code points;
- leading or trailing whitespace;
- more than 255 bytes in UTF-8 (the Linux NAME_MAX).
Accepted names are returned NFC-normalised (so two visually identical spellings are one file).
WRF names such as ``wrfinput_d01``, ``namelist.input``, ``wrfout_d01_2019-01-01_00:00:00`` pass.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
import unicodedata
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

MAX_FILENAME_BYTES = 255
TEMP_PREFIX = ".upload-"
TEMP_SUFFIX = ".part"
# Characters that render as, or are commonly confused with, a path separator.
_SLASH_LOOKALIKES = frozenset("/\\\u2044\u2215\u29f8\u29f5\u29f9\ufe68\uff0f\uff3c\u2571\u2572")
# Unicode general categories refused anywhere in a name (see module docstring).
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_PARALLEL_HASH_MIN = 64 * 1024  # chunks at least this big are hashed in a helper thread
_FLUSH_EVERY = 64 * 1024 * 1024  # start a background fdatasync after this many new bytes
_IOV_MAX = 1024  # writev(2) limit on Linux
_FILE_MODE = 0o644  # the temp is created 0600 (private while incomplete); a landed file is a normal one


class UploadError(Exception):
    """An upload refused for a reason the client must hear: HTTP ``status``, machine ``code``, ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"UploadError({self.status}, {self.code!r}, {self.message!r})"


_executors: dict[str, ThreadPoolExecutor] = {}
_executors_lock = threading.Lock()


def _pool(name: str) -> ThreadPoolExecutor:
    """Shared helper threads: "sha256" (hashing beside writes), "flush" (background fdatasync)."""
    with _executors_lock:
        if name not in _executors:
            _executors[name] = ThreadPoolExecutor(max_workers=4, thread_name_prefix=f"upload-{name}")
        return _executors[name]


def _hash_all(hasher: "hashlib._Hash", views: list[memoryview]) -> None:
    for view in views:
        hasher.update(view)


def _bad(message: str) -> UploadError:
    return UploadError(400, "bad_filename", message)


def sanitize_filename(name: str) -> str:
    """Return ``name`` NFC-normalised if it is a safe single path component, else raise UploadError(400).

    Pure. See the module docstring for the exact policy.
    """
    if not isinstance(name, str) or name == "":
        raise _bad("the file name is empty")
    for ch in name:
        cat = unicodedata.category(ch)
        if cat in _BAD_CATEGORIES:
            raise _bad(f"the file name contains a control or invisible character (U+{ord(ch):04X})")
        if ch in _SLASH_LOOKALIKES:
            raise _bad(f"the file name contains a path separator ({ch!r}); give a plain name, not a path")
    normalised = unicodedata.normalize("NFC", name)
    folded = unicodedata.normalize("NFKC", name)  # how a careless consumer might read the name
    if any(ch in _SLASH_LOOKALIKES for ch in folded):
        raise _bad("the file name contains a character that normalises to a path separator")
    if normalised in (".", "..") or folded in (".", ".."):
        raise _bad(f"{name!r} is not a file name")
    if normalised.startswith(".") or folded.startswith("."):
        raise _bad("file names starting with '.' are not accepted")
    if normalised != normalised.strip():
        raise _bad("the file name starts or ends with whitespace")
    size = len(normalised.encode("utf-8"))
    if size > MAX_FILENAME_BYTES:
        raise _bad(f"the file name is {size} bytes long; the limit is {MAX_FILENAME_BYTES} bytes")
    return normalised


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable: fsync the directory entry (best effort on filesystems that refuse it)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class AtomicFileWriter:
    """Write ``dest_path`` atomically: temp file beside it, sha256 on the fly, size cap, rename on commit.

    Use as a context manager; nothing lands unless ``commit()`` is called inside the ``with`` block::

        with AtomicFileWriter(dest, max_bytes=cap) as w:
            for chunk in source:
                w.write(chunk)          # UploadError(413, "file_too_large") past the cap
            w.commit()                  # fsync + os.replace onto dest
        w.size, w.sha256

    Leaving the block without commit (exception, cancellation, early return) removes the temp file and
    leaves any existing ``dest_path`` untouched. One writer is used by one thread at a time.
    """

    def __init__(self, dest_path: Path | str, max_bytes: int, *, fsync: bool = True) -> None:
        self.dest_path = Path(dest_path)
        self.max_bytes = int(max_bytes)
        self.fsync = fsync
        self.size = 0
        self.temp_path: Path | None = None
        self.committed = False
        self._hash = hashlib.sha256()
        self._flushed_at = 0  # bytes written when the last background fdatasync was started
        self._flush_job: Future[None] | None = None
        self._file = None  # type: ignore[var-annotated]

    # -- life cycle ---------------------------------------------------------------------------
    def open(self) -> "AtomicFileWriter":
        """Create the temp file (O_EXCL, random name) in the destination's directory."""
        if self._file is not None or self.committed:
            raise RuntimeError("AtomicFileWriter is single use")
        directory = self.dest_path.parent
        for _ in range(16):  # a collision of 128 random bits will not happen; bound the loop anyway
            candidate = directory / f"{TEMP_PREFIX}{secrets.token_hex(16)}{TEMP_SUFFIX}"
            try:
                fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            except FileExistsError:
                continue
            break
        else:  # pragma: no cover
            raise RuntimeError(f"could not create a temp file in {directory}")
        self.temp_path = candidate
        # Unbuffered: callers hand over big chunks, and a buffer would copy every byte once more.
        self._file = os.fdopen(fd, "wb", buffering=0)
        return self

    def __enter__(self) -> "AtomicFileWriter":
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self.committed:
            self.abort()

    # -- data ---------------------------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data``; past ``max_bytes`` the temp is removed and UploadError(413) raised."""
        self.write_many((data,))

    def write_many(self, pieces: Sequence[bytes | bytearray | memoryview]) -> None:
        """Append several buffers with one hash job and one ``writev``: fewer thread switches per byte."""
        if self._file is None:
            raise RuntimeError("AtomicFileWriter is not open")
        views = [memoryview(p).cast("B") for p in pieces if len(p)]
        n = sum(len(v) for v in views)
        if self.size + n > self.max_bytes:
            self.abort()
            raise UploadError(413, "file_too_large", f"the file is larger than the limit of {self.max_bytes} bytes")
        if n >= _PARALLEL_HASH_MIN:
            # Hash and write at the same time: both release the GIL, and on a slow CPU sha256
            # costs about as much as the write itself. The hash must finish before the next write.
            job = _pool("sha256").submit(_hash_all, self._hash, views)
            try:
                self._write_all(views)
            finally:
                job.result()
        else:
            _hash_all(self._hash, views)
            self._write_all(views)
        self.size += n
        if self.fsync and self.size - self._flushed_at >= _FLUSH_EVERY and not self._flushing():
            # Start writeback now, in the background, so the fsync in commit() finds little left to
            # do: on a big file it would otherwise stall the upload's end for many seconds.
            self._flushed_at = self.size
            self._flush_job = _pool("flush").submit(os.fdatasync, self._file.fileno())

    def _flushing(self) -> bool:
        return self._flush_job is not None and not self._flush_job.done()

    def _wait_flush(self) -> None:
        # The fd must never be closed under a running fdatasync (the number could be reused).
        job, self._flush_job = self._flush_job, None
        if job is not None:
            try:
                job.result()
            except OSError:
                pass  # commit() fsyncs again and reports; abort() does not care

    def _write_all(self, views: list[memoryview]) -> None:
        fd = self._file.fileno()
        while views:
            written = os.writev(fd, views[:_IOV_MAX])  # may be partial, like write(2)
            while views and written >= len(views[0]):
                written -= len(views[0])
                views = views[1:]
            if written:
                views = [views[0][written:], *views[1:]]

    @property
    def sha256(self) -> str:
        """Hex sha256 of the bytes written so far."""
        return self._hash.hexdigest()

    def commit(self) -> Path:
        """Flush, fsync, chmod 0644 and ``os.replace`` the temp onto ``dest_path``; return ``dest_path``."""
        if self._file is None or self.temp_path is None:
            raise RuntimeError("AtomicFileWriter is not open (aborted or already committed)")
        try:
            self._wait_flush()
            self._file.flush()
            if self.fsync:
                os.fsync(self._file.fileno())
            os.fchmod(self._file.fileno(), _FILE_MODE)
            self._file.close()
            self._file = None
            os.replace(self.temp_path, self.dest_path)
        except BaseException:
            self.abort()
            raise
        self.committed = True
        self.temp_path = None
        if self.fsync:
            _fsync_dir(self.dest_path.parent)
        return self.dest_path

    def abort(self) -> None:
        """Close and delete the temp file; idempotent; never touches ``dest_path``."""
        self._wait_flush()
        f, self._file = self._file, None
        if f is not None:
            try:
                f.close()
            except OSError:
                pass  # e.g. ENOSPC on the final flush: the temp is being thrown away anyway
        if self.temp_path is not None:
            try:
                os.unlink(self.temp_path)
            except FileNotFoundError:
                pass
            self.temp_path = None


def is_temp_name(name: str) -> bool:
    """True for names AtomicFileWriter uses for its temp files (never a user file: see sanitize_filename)."""
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)


def cleanup_stale_temps(directory: Path | str, *, older_than: float = 0.0, recursive: bool = False) -> list[Path]:
    """Delete leftover ``.upload-*.part`` files (e.g. after a crash) in ``directory``; return what was removed.

    Call with the default ``older_than=0`` only when no upload can be in flight (service start-up);
    alongside live uploads pass an age in seconds larger than any upload can take, or an in-flight
    upload would lose its temp file and fail at commit. Symlinks are never followed or removed.
    """
    root = Path(directory)
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    cutoff = time.time() - older_than
    stack = [root]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if recursive:
                    stack.append(Path(entry.path))
                continue
            if not is_temp_name(entry.name) or not entry.is_file(follow_symlinks=False):
                continue
            try:
                if entry.stat(follow_symlinks=False).st_mtime <= cutoff:
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
            except FileNotFoundError:
                pass
    return removed
