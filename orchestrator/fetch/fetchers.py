"""Entry point of URL uploads: ``fetch_url`` (synchronous, thread-safe), ``validate_url``, ``derive_filename``.

The caller (the API's upload_url use-case) validates the URL and derives the file name at once,
answers with the fileid, and runs ``fetch_url`` in a worker thread, reporting ``progress``.
Every scheme goes through the SSRF guard (ssrf.py) before any connection is made.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from orchestrator.fetch.common import FetchResult, FetchSettings, Transfer
from orchestrator.fetch.errors import FetchError
from orchestrator.fetch.ftp_fetch import fetch_ftp
from orchestrator.fetch.http_fetch import fetch_http
from orchestrator.fetch.s3_fetch import fetch_s3
from orchestrator.store.uploads import AtomicFileWriter, UploadError, sanitize_filename

__all__ = [
    "FetchError",
    "FetchResult",
    "FetchSettings",
    "ALLOWED_SCHEMES",
    "derive_filename",
    "fetch_url",
    "settings_from_config",
    "validate_url",
]

ALLOWED_SCHEMES = ("http", "https", "ftp", "s3")
MAX_URL_LENGTH = 4096


def validate_url(url: str) -> str:
    """Check a URL's syntax and scheme without any network access; return the scheme. Raises FetchError.

    ``url_scheme_not_allowed`` for anything but http, https, ftp, s3; ``bad_url`` for a missing
    host, whitespace/control characters, or an over-long URL.
    """
    if not isinstance(url, str) or not url:
        raise FetchError("bad_url", "no URL given")
    if len(url) > MAX_URL_LENGTH:
        raise FetchError("bad_url", f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(ord(c) <= 32 or ord(c) == 127 for c in url):
        raise FetchError("bad_url", "the URL contains spaces or control characters (percent-encode them)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise FetchError("bad_url", f"invalid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise FetchError(
            "url_scheme_not_allowed",
            f"URL scheme {parts.scheme or '(none)'!r} is not allowed; use http, https, ftp or s3",
        )
    if not parts.hostname:
        raise FetchError("bad_url", "the URL has no host" if scheme != "s3" else "the s3 URL has no bucket")
    return scheme


def derive_filename(url: str) -> str:
    """File name for a URL upload: the last path segment (percent-decoded except for s3), sanitised.

    Raises UploadError(400, "bad_filename") when the URL does not end in a usable name
    (``http://host/``, ``.../..%2f..``, a hidden name, ...).
    """
    parts = urlsplit(url)
    path = parts.path
    if parts.scheme.lower() == "ftp":
        path = path.split(";", 1)[0]
    segment = path.rsplit("/", 1)[-1]
    if parts.scheme.lower() != "s3":
        segment = unquote(segment, errors="strict")
    if not segment:
        raise UploadError(400, "bad_filename", "the URL does not end in a file name")
    return sanitize_filename(segment)


def settings_from_config(config: Any) -> FetchSettings:
    """FetchSettings from the service config: ``Settings`` (its ``uploads`` section) or that section itself.

    Reads ``fetch_max_bytes``, ``fetch_connect_timeout``, ``fetch_read_timeout``, ``fetch_total_timeout``,
    ``fetch_max_redirects``, ``fetch_allowlist``, ``s3_endpoint_url``, ``s3_region``, ``s3_access_key``,
    ``s3_secret_key``; empty strings mean "not set".
    """
    up = getattr(config, "uploads", config)
    return FetchSettings(
        max_bytes=int(up.fetch_max_bytes),
        connect_timeout=float(up.fetch_connect_timeout),
        read_timeout=float(up.fetch_read_timeout),
        total_timeout=float(up.fetch_total_timeout),
        max_redirects=int(up.fetch_max_redirects),
        allowlist=tuple(str(entry) for entry in (up.fetch_allowlist or ())),
        s3_endpoint_url=up.s3_endpoint_url or None,
        s3_region=up.s3_region or None,
        s3_access_key=up.s3_access_key or None,
        s3_secret_key=up.s3_secret_key or None,
    )


def _hint(url: str) -> str | None:
    try:
        return derive_filename(url)
    except (UploadError, UnicodeError, ValueError):
        return None


def fetch_url(
    url: str,
    dest: AtomicFileWriter | Path | str,
    *,
    settings: FetchSettings,
    progress: Callable[[int], None] | None = None,
) -> FetchResult:
    """Download ``url`` (http, https, ftp, s3) into ``dest``, synchronously. Thread-safe (no shared state).

    ``dest`` as a path: written through an AtomicFileWriter of its own and committed (renamed into
    place) only on success; on failure nothing is left and an existing file is untouched.
    ``dest`` as an (opened or not) AtomicFileWriter: filled but *not* committed, so the caller can
    validate first and commit itself; on failure it is aborted.
    ``progress(bytes_done)`` is called at most every 0.25 s and once at the end; an exception raised
    by it aborts the fetch (a way to cancel) and propagates.
    Raises FetchError (codes: see orchestrator.fetch.errors.FetchError).
    """
    scheme = validate_url(url)
    owned = not isinstance(dest, AtomicFileWriter)
    writer = AtomicFileWriter(Path(dest), settings.max_bytes) if owned else dest
    try:
        if writer.temp_path is None:
            writer.open()
        transfer = Transfer(writer, settings, progress)
        final_url = url
        if scheme in ("http", "https"):
            final_url = fetch_http(url, transfer)
        elif scheme == "ftp":
            fetch_ftp(urlsplit(url), transfer)
        else:
            fetch_s3(urlsplit(url), transfer)
        transfer.finish()
        if owned:
            writer.commit()
        return FetchResult(size=writer.size, sha256=writer.sha256, filename_hint=_hint(final_url))
    except BaseException:
        writer.abort()
        raise
