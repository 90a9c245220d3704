"""http/https fetcher: httpx streaming, manual redirects, every hop through the SSRF guard.

Each hop resolves the host once (``resolve_and_check``) and connects to the *vetted IP* with the
original ``Host`` header and TLS SNI / certificate check against the original name, so DNS cannot
change the answer between the check and the connection. Environment proxies are ignored
(``trust_env=False``): a proxy would make the connection on our behalf to an unchecked address.
"""

from __future__ import annotations

import ssl

import httpx

from orchestrator.fetch.common import FetchSettings, Transfer
from orchestrator.fetch.errors import FetchError
from orchestrator.fetch.ssrf import parse_allowlist, resolve_and_check

HTTP_SCHEMES = ("http", "https")
_USER_AGENT = "cloudrun-fetch/1"


def _open(client: httpx.Client, url: httpx.URL, ips: list[str], transfer: Transfer) -> httpx.Response:
    """Send GET to the first vetted address that accepts the connection; return the streaming response."""
    host = url.raw_host.decode("ascii")
    headers = {
        "Host": url.netloc.decode("ascii"),
        "Accept-Encoding": "identity",  # store the file's own bytes; no decompression bombs
        "User-Agent": _USER_AGENT,
    }
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    s = transfer.settings
    last: Exception | None = None
    for ip in ips:
        timeout = httpx.Timeout(
            connect=min(s.connect_timeout, transfer.remaining()),
            read=transfer.read_timeout(),
            write=transfer.read_timeout(),
            pool=s.connect_timeout,
        )
        request = client.build_request(
            "GET", url.copy_with(host=ip), headers=headers, timeout=timeout, extensions=extensions
        )
        try:
            return client.send(request, stream=True)
        except httpx.ConnectError as exc:
            last = exc  # try the next vetted address
        except httpx.TimeoutException:
            raise FetchError("timeout", f"{host} did not answer within the time limit") from None
        except httpx.HTTPError as exc:
            raise FetchError("transfer_failed", f"request to {host} failed: {exc}") from None
    raise FetchError("connect_failed", f"cannot connect to {host}: {last}")


def _read_body(response: httpx.Response, transfer: Transfer, host: str) -> None:
    declared = response.headers.get("content-length")
    if declared is not None and declared.strip().isdigit():
        transfer.check_declared(int(declared))
    try:
        # iter_raw() without a chunk size yields each network read, so the deadline and the cap
        # are checked at least once per read even when the server trickles.
        for chunk in response.iter_raw():
            transfer.write(chunk)
    except httpx.TimeoutException:
        raise FetchError("timeout", f"{host} stopped sending data (read timeout)") from None
    except httpx.HTTPError as exc:
        raise FetchError("transfer_failed", f"the download from {host} broke off: {exc}") from None


def fetch_http(url: str, transfer: Transfer) -> str:
    """Download ``url`` into ``transfer``; return the final URL after redirects. Raises FetchError."""
    s: FetchSettings = transfer.settings
    allow = parse_allowlist(s.allowlist)
    try:
        current = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise FetchError("bad_url", f"invalid URL: {exc}") from None
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=s.ca_bundle) if s.ca_bundle else True
    with httpx.Client(trust_env=False, follow_redirects=False, verify=verify) as client:
        for hop in range(s.max_redirects + 1):
            if current.scheme not in HTTP_SCHEMES:
                raise FetchError(
                    "url_scheme_not_allowed", f"redirect to a {current.scheme or 'relative'} URL is not allowed"
                )
            if not current.raw_host:
                raise FetchError("bad_url", f"the URL {current} has no host")
            host = current.raw_host.decode("ascii")
            port = current.port or (443 if current.scheme == "https" else 80)
            ips = resolve_and_check(host, port, allow)
            response = _open(client, current, ips, transfer)
            try:
                if response.is_redirect:
                    try:
                        current = current.join(response.headers["location"])
                    except (httpx.InvalidURL, UnicodeError) as exc:
                        raise FetchError("bad_url", f"{host} redirected to an invalid URL: {exc}") from None
                    continue
                if response.status_code in (404, 410):
                    raise FetchError("not_found", f"{host} answered {response.status_code}: the file does not exist")
                if not 200 <= response.status_code < 300:
                    raise FetchError(
                        "http_error", f"{host} answered HTTP {response.status_code} {response.reason_phrase}"
                    )
                _read_body(response, transfer, host)
                return str(current)
            finally:
                response.close()
    raise FetchError("too_many_redirects", f"more than {s.max_redirects} redirects (last: {current})")
