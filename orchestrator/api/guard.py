"""ASGI middleware in front of every route: per-token rate limit, maintenance mode, form-body size cap.

Plain ASGI (not BaseHTTPMiddleware) so it adds next to nothing to a request; the token bucket is pure
and per process (each API process enforces its own share of the limit).
"""
from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

Scope = dict[str, Any]
ASGIApp = Callable[..., Any]
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UPLOAD_SUFFIX = "/upload"


@dataclass
class Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """Token buckets keyed by caller: ``per_minute`` steady rate plus ``burst`` spare requests."""

    def __init__(self, per_minute: int, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(max(1, per_minute // 60 + burst)) if per_minute else 0.0
        self.clock = clock
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> tuple[bool, int, float]:
        """Spend one request for ``key``: (allowed, remaining, seconds until one more is allowed)."""
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = Bucket(self.capacity, now)
                if len(self._buckets) > 100_000:  # forget idle callers rather than grow without bound
                    self._buckets = {key: bucket}
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return True, int(bucket.tokens), 0.0
            return False, 0, (1.0 - bucket.tokens) / self.rate


def _error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


async def _send_error(send: Callable[..., Any], status: int, code: str, message: str,
                      headers: list[tuple[bytes, bytes]]) -> None:
    body = _error_body(code, message)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


class GuardMiddleware:
    """Rate limit (per bearer token, else per client address), maintenance 503s, form size 413s."""

    def __init__(self, app: ASGIApp, *, buckets: TokenBuckets | None, maintenance_path: Path,
                 max_form_bytes: int) -> None:
        self.app = app
        self.buckets = buckets
        self.maintenance_path = maintenance_path
        self.max_form_bytes = max_form_bytes

    async def __call__(self, scope: Scope, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        extra: list[tuple[bytes, bytes]] = []
        if self.buckets is not None and self.buckets.rate > 0:
            auth = headers.get(b"authorization", b"")
            client = (scope.get("client") or ("?", 0))[0]
            key = hashlib.sha256(auth).hexdigest() if auth else f"ip:{client}"
            allowed, remaining, wait = self.buckets.take(key)
            reset = math.ceil(wait) if not allowed else 0
            extra = [(b"x-ratelimit-limit", str(int(self.buckets.rate * 60)).encode()),
                     (b"x-ratelimit-remaining", str(remaining).encode()),
                     (b"x-ratelimit-reset", str(reset).encode())]
            if not allowed:
                await _send_error(send, 429, "rate_limited",
                                  f"too many requests for this token; retry after {max(1, reset)} s",
                                  [*extra, (b"retry-after", str(max(1, reset)).encode())])
                return
        method = scope["method"]
        if method in MUTATING and self.maintenance_path.exists():
            await _send_error(send, 503, "maintenance",
                              "Cloudrun is in maintenance mode: reads work, changes are refused for now",
                              [*extra, (b"retry-after", b"60")])
            return
        is_upload = scope["path"].endswith(UPLOAD_SUFFIX)
        if method in MUTATING and not is_upload:
            length = headers.get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_form_bytes:
                await _send_error(send, 413, "body_too_large",
                                  f"request body of {int(length)} bytes exceeds the {self.max_form_bytes}-byte limit",
                                  extra)
                return
            receive = self._capped_receive(receive)

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and extra:
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except _BodyTooLarge:
            await _send_error(send, 413, "body_too_large",
                              f"request body exceeds the {self.max_form_bytes}-byte limit", extra)

    def _capped_receive(self, receive: Callable[..., Any]) -> Callable[..., Any]:
        """Count body bytes of chunked requests (no Content-Length) and stop past the cap."""
        seen = 0
        cap = self.max_form_bytes

        async def wrapped() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    raise _BodyTooLarge()
            return message

        return wrapped


class _BodyTooLarge(Exception):
    pass
