"""Upload progress: a file wrapper that reports how far httpx has read, and a rich progress bar."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import BinaryIO, Callable, Iterator

ProgressCallback = Callable[[int], None]


def progress_wanted(progress: bool | None) -> bool:
    """``False`` → never; ``True`` → always; ``None`` → only when stderr is a terminal."""
    if progress is not None:
        return bool(progress)
    try:
        return bool(sys.stderr and sys.stderr.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def file_size(fileobj: BinaryIO) -> int | None:
    """Size in bytes of an open binary file without reading it (``None`` if it cannot be told)."""
    try:
        return os.fstat(fileobj.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        pass
    try:
        here = fileobj.tell()
        end = fileobj.seek(0, os.SEEK_END)
        fileobj.seek(here)
        return end
    except (AttributeError, OSError, ValueError):
        return None


class ProgressReader:
    """Wraps a binary file; every ``read``/``seek`` reports the current position to ``callback``.

    It reads only what it is asked for (httpx asks for 64 KiB chunks), so the file is streamed.
    ``fileno``/``tell``/``seek`` pass through so httpx can size the body without reading it.
    """

    def __init__(self, raw: BinaryIO, callback: ProgressCallback) -> None:
        self._raw = raw
        self._callback = callback
        self.name = getattr(raw, "name", "upload")

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(size)
        self._report()
        return chunk

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        pos = self._raw.seek(offset, whence)
        self._report()
        return pos

    def tell(self) -> int:
        return self._raw.tell()

    def fileno(self) -> int:
        return self._raw.fileno()

    def _report(self) -> None:
        try:
            self._callback(self._raw.tell())
        except (OSError, ValueError):
            pass


@contextlib.contextmanager
def upload_bar(label: str, total: int | None, enabled: bool) -> Iterator[ProgressCallback]:
    """Yield a callback taking the byte position; draws a rich bar on stderr when ``enabled``."""
    if not enabled:
        yield lambda _pos: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    console = Console(file=sys.stderr)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda pos: bar.update(task, completed=pos)
