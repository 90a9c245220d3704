"""Exceptions raised by the Cloudrun client.

Every error the server reports (``{"error": {"code", "message", "details"}}``) becomes an
:class:`APIError` subclass chosen by HTTP status, carrying the server's ``code``, ``message`` and
``details`` unchanged.
"""

from __future__ import annotations

from typing import Any, Mapping

__all__ = [
    "CloudrunError",
    "ConfigurationError",
    "MissingTokenError",
    "CloudrunConnectionError",
    "UnexpectedResponseError",
    "APIError",
    "ClientError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "MethodNotAllowedError",
    "ConflictError",
    "PayloadTooLargeError",
    "UnprocessableEntityError",
    "RateLimitError",
    "ServerError",
    "InternalServerError",
    "ServiceUnavailableError",
    "WaitTimeoutError",
    "UnexpectedStatusError",
    "error_for_status",
]


class CloudrunError(Exception):
    """Base class of every exception raised by the ``cloudrun`` package."""


class ConfigurationError(CloudrunError, ValueError):
    """The client was configured wrongly (bad URL, missing token, bad arguments)."""


class MissingTokenError(ConfigurationError):
    """No API token was given and ``CLOUDRUN_TOKEN`` is not set."""


class CloudrunConnectionError(CloudrunError, ConnectionError):
    """The server could not be reached, or the connection broke (wraps the httpx error)."""


class UnexpectedResponseError(CloudrunError):
    """The server answered with a success status but a body the client does not understand."""


class APIError(CloudrunError):
    """The server answered with an HTTP error status.

    Attributes: ``status_code``, ``code`` (server's machine-readable code), ``message``,
    ``details`` (whatever the server put there, or ``None``), ``headers`` (response headers),
    ``retry_after`` (seconds, from ``Retry-After``, or ``None``), ``method`` and ``url``.
    """

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        details: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        retry_after: float | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details = details
        self.headers: dict[str, str] = dict(headers or {})
        self.retry_after = retry_after
        self.method = method
        self.url = url
        super().__init__(self._format())

    def _format(self) -> str:
        text = f"{self.status_code} {self.code}: {self.message}"
        if isinstance(self.details, list) and self.details:
            lines = []
            for item in self.details:
                if isinstance(item, Mapping):
                    msg = item.get("message") or item
                    where = item.get("code") or item.get("field") or item.get("file")
                    lines.append(f"  - {where}: {msg}" if where else f"  - {msg}")
                else:
                    lines.append(f"  - {item}")
            text += "\n" + "\n".join(lines)
        elif self.details not in (None, "", {}, []):
            text += f" ({self.details})"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code}, code={self.code!r}, message={self.message!r})"


class ClientError(APIError):
    """A 4xx answer: the request was refused."""


class BadRequestError(ClientError):
    """400: invalid request (e.g. setup found problems with the inputs; see ``details``)."""


class AuthenticationError(ClientError):
    """401: missing, unknown or revoked token."""


class PermissionDeniedError(ClientError):
    """403: the token may not do this."""


class NotFoundError(ClientError):
    """404: no such run (or not yours)."""


class MethodNotAllowedError(ClientError):
    """405: HTTP method not allowed on this endpoint."""


class ConflictError(ClientError):
    """409: the run's current status does not allow this action."""


class PayloadTooLargeError(ClientError):
    """413: the upload exceeds the server's size limit."""


class UnprocessableEntityError(ClientError):
    """422: the request's parameters are malformed or missing."""


class RateLimitError(ClientError):
    """429: too many requests (raised only after the client's retries are exhausted)."""


class ServerError(APIError):
    """A 5xx answer."""


class InternalServerError(ServerError):
    """500: the server failed."""


class ServiceUnavailableError(ServerError):
    """503: the service is temporarily unavailable (raised after retries are exhausted)."""


class WaitTimeoutError(CloudrunError, TimeoutError):
    """:meth:`cloudrun.Run.wait` gave up before the run reached the wanted status."""


class UnexpectedStatusError(CloudrunError):
    """:meth:`cloudrun.Run.wait` saw the run settle in a status other than the wanted one.

    ``run`` is the run as last seen; ``status`` its status; ``error`` the run's error object or ``None``.
    """

    def __init__(self, run: Any, wanted: tuple[str, ...]) -> None:
        self.run = run
        self.status: str | None = run.status
        self.error: Any = run.error
        self.wanted = wanted
        text = f"run {run.id} is {self.status!r}, not {' or '.join(repr(w) for w in wanted)}"
        if isinstance(self.error, Mapping):
            text += f" ({self.error.get('code')}: {self.error.get('message')})"
        super().__init__(text)


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    500: InternalServerError,
    503: ServiceUnavailableError,
}


def error_for_status(status_code: int) -> type[APIError]:
    """Return the exception class used for an HTTP error status."""
    if status_code in _BY_STATUS:
        return _BY_STATUS[status_code]
    if 400 <= status_code < 500:
        return ClientError
    if status_code >= 500:
        return ServerError
    return APIError
