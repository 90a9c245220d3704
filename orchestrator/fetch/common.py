"""Pieces shared by the per-scheme fetchers: settings, result, and the byte/time budget of one transfer."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.fetch.errors import FetchError
from orchestrator.store.uploads import AtomicFileWriter, UploadError

PROGRESS_INTERVAL = 0.25  # seconds between progress callbacks (the caller may write to a DB)


@dataclass(frozen=True)
class FetchSettings:
    """Limits and endpoints of URL fetches (wired from config.yaml by the caller).

    ``allowlist``: CIDRs or host names the SSRF guard lets through (see ssrf.py).
    S3: ``s3_endpoint_url`` None means AWS; no access key means unsigned (anonymous) requests — the
    service never lends its own ambient AWS credentials to a user's URL.
    """

    max_bytes: int = 20 * 1024**3
    connect_timeout: float = 10.0
    read_timeout: float = 60.0  # longest silence between two reads
    total_timeout: float = 6 * 3600.0  # whole transfer; enforced between reads (overshoot ≤ read_timeout)
    max_redirects: int = 5
    allowlist: tuple[str, ...] = ()
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    ca_bundle: str | None = None  # PEM file of CAs for https (an internal CA); None: the certifi bundle


@dataclass(frozen=True)
class FetchResult:
    """What a successful fetch produced. ``filename_hint``: last segment of the final URL, sanitised, if any."""

    size: int
    sha256: str
    filename_hint: str | None


class Transfer:
    """Byte cap, total deadline and throttled progress for one fetch, in front of an AtomicFileWriter."""

    def __init__(
        self, writer: AtomicFileWriter, settings: FetchSettings, progress: Callable[[int], None] | None
    ) -> None:
        self.writer = writer
        self.settings = settings
        self.limit = min(settings.max_bytes, writer.max_bytes)
        self.deadline = time.monotonic() + settings.total_timeout
        self.done = 0
        self._progress = progress
        self._last_progress = 0.0

    def remaining(self) -> float:
        """Seconds left of the total budget; raises FetchError('timeout') when none is left."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise FetchError("timeout", f"the transfer took longer than {self.settings.total_timeout:g} s")
        return left

    def read_timeout(self) -> float:
        """The read timeout to use now: never beyond the total deadline."""
        return max(0.001, min(self.settings.read_timeout, self.remaining()))

    def check_declared(self, size: int | None) -> None:
        """Refuse before reading when the source announces a size above the cap."""
        if size is not None and size > self.limit:
            raise FetchError("too_large", f"the file is {size} bytes; the limit is {self.limit} bytes")

    def write(self, chunk: bytes | memoryview) -> None:
        """Count, write and hash one chunk; enforce the cap and the deadline; report progress."""
        if self.done + len(chunk) > self.limit:
            raise FetchError("too_large", f"the file is larger than the limit of {self.limit} bytes")
        try:
            self.writer.write(chunk)
        except UploadError as exc:
            raise FetchError("too_large", exc.message) from None
        self.done += len(chunk)
        now = time.monotonic()
        if self._progress is not None and now - self._last_progress >= PROGRESS_INTERVAL:
            self._last_progress = now
            self._progress(self.done)
        self.remaining()

    def finish(self) -> None:
        """Final progress report with the complete size."""
        if self._progress is not None:
            self._progress(self.done)
