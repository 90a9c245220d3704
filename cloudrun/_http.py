"""HTTP transport: auth header, error mapping, and retries of 429/503 honouring Retry-After."""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

import httpx

from .errors import APIError, CloudrunConnectionError, UnexpectedResponseError, error_for_status

RETRY_STATUSES = frozenset({429, 503})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Errors where the request certainly never reached the server: safe to resend whatever the method.
NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: Connection dropped without an answer (e.g. a stale keep-alive connection): resent for idempotent methods only.
DROPPED_ERRORS = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)
#: At most this many resends after a transport error (never more than ``max_retries``).
TRANSPORT_RETRIES = 2


@dataclass(frozen=True)
class RateLimit:
    """The ``X-RateLimit-*`` headers of the last response (``None`` where absent)."""

    limit: int | None
    remaining: int | None
    reset: int | None


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date); ``None`` if absent/invalid."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


def _int_header(headers: httpx.Headers, name: str) -> int | None:
    try:
        return int(float(headers[name]))
    except (KeyError, ValueError):
        return None


class HTTPTransport:
    """Thin wrapper around :class:`httpx.Client` used by :class:`cloudrun.Cloudrun`.

    ``max_retries``: how many times a 429/503 answer is retried (0 = never) before its exception is raised.
    Transport errors are resent at most ``min(max_retries, TRANSPORT_RETRIES)`` times, and only when safe:
    the connection could not be made, or the method is idempotent and the connection dropped unanswered.
    ``max_retry_wait``: upper bound in seconds for one wait (``Retry-After`` larger than this is capped).
    Without ``Retry-After`` the wait is exponential: ``backoff * 2**attempt``, also capped.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float | httpx.Timeout = 60.0,
        max_retries: int = 5,
        max_retry_wait: float = 60.0,
        backoff: float = 0.5,
        user_agent: str = "cloudrun-python",
        verify: bool | str = True,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self.backoff = backoff
        self.rate_limit: RateLimit | None = None
        self._sleep: Callable[[float], None] = time.sleep
        self._client = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "User-Agent": user_agent,
            },
            timeout=timeout,
            verify=verify,
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close the underlying connection pool."""
        self._client.close()

    def _delay(self, response: httpx.Response, attempt: int) -> float:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        delay = retry_after if retry_after is not None else self.backoff * (2**attempt)
        return min(delay, self.max_retry_wait)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        json: Any = None,
        files: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send one API request (retrying 429/503) and return the decoded JSON body.

        Raises an :class:`~cloudrun.errors.APIError` subclass for HTTP errors and
        :class:`~cloudrun.errors.CloudrunConnectionError` when the server cannot be reached.
        File objects in ``files`` are rewound by httpx before each attempt, so a retried upload resends them whole.
        """
        path = path.lstrip("/")
        attempt = 0
        transport_attempt = 0
        while True:
            try:
                response = self._client.request(
                    method, path, params=params, data=data, json=json, files=files
                )
            except httpx.TransportError as exc:
                safe = isinstance(exc, NOT_SENT_ERRORS) or (
                    method.upper() in IDEMPOTENT_METHODS and isinstance(exc, DROPPED_ERRORS)
                )
                if safe and transport_attempt < min(self.max_retries, TRANSPORT_RETRIES):
                    self._sleep(min(self.backoff * (2**transport_attempt), self.max_retry_wait))
                    transport_attempt += 1
                    continue
                raise CloudrunConnectionError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
            self._remember_rate_limit(response)
            if response.status_code in RETRY_STATUSES and attempt < self.max_retries:
                delay = self._delay(response, attempt)
                response.close()
                attempt += 1
                self._sleep(delay)
                continue
            if response.status_code >= 300:  # redirects are not followed: a moved API is an error
                raise self._error(response)
            try:
                return response.json()
            except ValueError as exc:
                raise UnexpectedResponseError(
                    f"{method} {response.request.url}: status {response.status_code} with a non-JSON body: "
                    f"{response.text[:200]!r}"
                ) from exc

    def _remember_rate_limit(self, response: httpx.Response) -> None:
        h = response.headers
        if any(k in h for k in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")):
            self.rate_limit = RateLimit(
                limit=_int_header(h, "X-RateLimit-Limit"),
                remaining=_int_header(h, "X-RateLimit-Remaining"),
                reset=_int_header(h, "X-RateLimit-Reset"),
            )

    @staticmethod
    def _error(response: httpx.Response) -> APIError:
        status = response.status_code
        code = f"http_{status}"
        message = response.reason_phrase or "HTTP error"
        details: Any = None
        try:
            body = response.json()
        except ValueError:
            body = None
            text = response.text.strip()
            if text:
                message = f"{message}: {text[:500]}"
        if isinstance(body, Mapping):
            err = body.get("error")
            if isinstance(err, Mapping):
                code = str(err.get("code") or code)
                message = str(err.get("message") or message)
                details = err.get("details")
            elif isinstance(body.get("detail"), (str, list)):  # a framework-default error body
                details = body["detail"]
                if isinstance(details, str):
                    message, details = details, None
        cls = error_for_status(status)
        return cls(
            status,
            code,
            message,
            details,
            headers=dict(response.headers),
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            method=response.request.method,
            url=str(response.request.url),
        )
