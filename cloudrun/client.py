"""The :class:`Cloudrun` API client."""

from __future__ import annotations

import os
from typing import Any, Iterator, Mapping
from urllib.parse import quote

import httpx

from . import __version__
from ._http import HTTPTransport, RateLimit
from .errors import ConfigurationError, MissingTokenError, UnexpectedResponseError
from .run import Run

__all__ = ["Cloudrun", "DEFAULT_URL"]

#: Used when neither ``url=`` nor ``CLOUDRUN_URL`` is given.
DEFAULT_URL = "https://api.cloudrun.co/v1"


class Cloudrun:
    """Client for the Cloudrun HTTP API.

    ``token`` falls back to the ``CLOUDRUN_TOKEN`` environment variable and ``url`` to ``CLOUDRUN_URL``,
    then to ``https://api.cloudrun.co/v1`` (the base URL includes ``/v1``). Answers 429 and 503 are retried
    up to ``max_retries`` times, waiting as ``Retry-After`` says (at most ``max_retry_wait`` seconds each).
    Use as a context manager, or call :meth:`close`, to release connections.
    """

    def __init__(
        self,
        token: str | None = None,
        url: str | None = None,
        *,
        timeout: float = 60.0,
        max_retries: int = 5,
        max_retry_wait: float = 60.0,
        verify: bool | str = True,
    ) -> None:
        token = token if token else os.environ.get("CLOUDRUN_TOKEN", "")
        token = token.strip()
        if not token:
            raise MissingTokenError(
                "no Cloudrun API token: pass Cloudrun(token=...) or set the CLOUDRUN_TOKEN environment variable"
            )
        url = (url or os.environ.get("CLOUDRUN_URL") or DEFAULT_URL).strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"Cloudrun URL must start with http:// or https://, got {url!r}")
        if max_retries < 0:
            raise ConfigurationError("max_retries must be >= 0")
        self.url: str = url
        self._token = token
        self._http = HTTPTransport(
            url,
            token,
            timeout=timeout,
            max_retries=max_retries,
            max_retry_wait=max_retry_wait,
            user_agent=f"cloudrun-python/{__version__} httpx/{httpx.__version__}",
            verify=verify,
        )

    def __repr__(self) -> str:
        return f"Cloudrun(url={self.url!r})"

    def __enter__(self) -> Cloudrun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    @property
    def rate_limit(self) -> RateLimit | None:
        """``X-RateLimit-*`` values (limit, remaining, reset) from the last response, if the server sent them."""
        return self._http.rate_limit

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._http.request(method, path, **kwargs)

    def _run(self, payload: Any) -> Run:
        if not isinstance(payload, Mapping):
            raise UnexpectedResponseError(f"expected a run object, got {payload!r:.200}")
        return Run(payload, self)

    # ----------------------------------------------------------------- API
    def iter_runs(self, status: str | None = None, *, page_size: int | None = None) -> Iterator[Run]:
        """Yield every run you can see, newest first, fetching pages lazily (optionally only one ``status``)."""
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            params: dict[str, Any] = {}
            if page_size is not None:
                params["limit"] = int(page_size)
            if status is not None:
                params["status"] = status
            if cursor is not None:
                params["cursor"] = cursor
            page = self._request("GET", "wrf", params=params)
            if not isinstance(page, Mapping) or not isinstance(page.get("runs"), list):
                raise UnexpectedResponseError(f"expected {{'runs': [...], 'next_cursor': ...}}, got {page!r:.200}")
            for item in page["runs"]:
                yield self._run(item)
            cursor = page.get("next_cursor")
            if not cursor:
                return
            if cursor in seen:
                raise UnexpectedResponseError(f"server repeated pagination cursor {cursor!r}")
            seen.add(cursor)

    def get_all_runs(self, status: str | None = None, *, page_size: int | None = None) -> list[Run]:
        """All runs you own or have access to, newest first (follows pagination to the end)."""
        return list(self.iter_runs(status, page_size=page_size))

    def get_run(self, id: str) -> Run:
        """The run with this id (:class:`~cloudrun.errors.NotFoundError` if it does not exist or is not yours)."""
        return self._run(self._request("GET", f"wrf/{quote(str(id), safe='')}"))

    def create_run(self, model: str = "wrf", version: str | None = None) -> Run:
        """Create a new run, e.g. ``create_run(model='wrf', version='3.9')``; ``version`` is required by the server."""
        data: dict[str, str] = {"model": str(model)}
        if version is not None:
            data["version"] = str(version)
        return self._run(self._request("POST", "wrf", data=data))
