"""The one error type of the URL fetchers (shared by the SSRF guard and every scheme)."""

from __future__ import annotations


class FetchError(ValueError):
    """A URL fetch that failed, with a machine ``code`` and a ``message`` a user understands.

    A ValueError, so that code validating a user's URL (``validate_url``) and treating ValueError as
    bad input answers 400; catch FetchError itself to keep ``code``.

    Codes: ``bad_url``, ``url_scheme_not_allowed``, ``address_not_allowed``, ``resolve_failed``,
    ``connect_failed``, ``timeout``, ``too_large``, ``http_error``, ``not_found``, ``auth_failed``,
    ``too_many_redirects``, ``transfer_failed``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"FetchError({self.code!r}, {self.message!r})"
