"""ftp fetcher: ftplib, passive binary RETR, anonymous or ``user:password@``.

The control connection goes to the SSRF-vetted IP. The data connection goes to the *same* IP:
ftplib's ``trust_server_pasv_ipv4_address = False`` ignores the address in the PASV reply (a
hostile server could otherwise point it at any internal host) and EPSV carries only a port.
"""

from __future__ import annotations

import ftplib
import socket
from urllib.parse import SplitResult, unquote

from orchestrator.fetch.common import Transfer
from orchestrator.fetch.errors import FetchError
from orchestrator.fetch.ssrf import resolve_and_check

_RECV = 256 * 1024


def ftp_path(parts: SplitResult) -> str:
    """Server path to RETR: the URL path, percent-decoded, relative to the login directory (RFC 1738)."""
    raw = parts.path.split(";", 1)[0]  # drop ';type=i'
    path = unquote(raw[1:] if raw.startswith("/") else raw)
    if not path or path.endswith("/"):
        raise FetchError("bad_url", "the ftp URL does not name a file")
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise FetchError("bad_url", "the ftp path contains control characters")
    return path


def _connect(ips: list[str], port: int, transfer: Transfer, host: str) -> ftplib.FTP:
    last: Exception | None = None
    for ip in ips:
        ftp = ftplib.FTP(timeout=min(transfer.settings.connect_timeout, transfer.remaining()))
        ftp.trust_server_pasv_ipv4_address = False  # the default, stated because SSRF depends on it
        try:
            ftp.connect(ip, port)
            return ftp
        except TimeoutError:
            ftp.close()
            raise FetchError("timeout", f"{host} did not answer within the time limit") from None
        except (OSError, ftplib.Error) as exc:
            ftp.close()
            last = exc
    raise FetchError("connect_failed", f"cannot connect to ftp server {host}: {last}")


def fetch_ftp(parts: SplitResult, transfer: Transfer) -> None:
    """Download the ftp URL ``parts`` into ``transfer``. Raises FetchError."""
    host = parts.hostname or ""
    port = parts.port or 21
    path = ftp_path(parts)
    user = unquote(parts.username) if parts.username else "anonymous"
    password = unquote(parts.password) if parts.password else ("anonymous@" if user == "anonymous" else "")
    ips = resolve_and_check(host, port, transfer.settings.allowlist)
    ftp = _connect(ips, port, transfer, host)
    try:
        # Control replies are short; a silent server is caught by the read timeout.
        ftp.sock.settimeout(transfer.read_timeout())
        ftp.timeout = min(transfer.settings.connect_timeout, transfer.remaining())  # data connection
        try:
            ftp.login(user, password)
        except ftplib.error_perm as exc:
            raise FetchError("auth_failed", f"ftp login to {host} as {user!r} refused: {exc}") from None
        ftp.voidcmd("TYPE I")
        try:
            size: int | None = ftp.size(path)
        except ftplib.error_perm:
            size = None  # SIZE is optional; a missing file is reported by RETR below
        transfer.check_declared(size)
        try:
            conn = ftp.transfercmd(f"RETR {path}")
        except ftplib.error_perm as exc:
            if str(exc).startswith("550"):
                raise FetchError("not_found", f"{host}: {path}: no such file ({exc})") from None
            raise FetchError("transfer_failed", f"{host} refused RETR {path}: {exc}") from None
        with conn:
            while True:
                conn.settimeout(transfer.read_timeout())
                data = conn.recv(_RECV)
                if not data:
                    break
                transfer.write(data)
        ftp.sock.settimeout(transfer.read_timeout())
        ftp.voidresp()  # 226 Transfer complete — anything else means the file is not whole
        if size is not None and transfer.done != size:
            raise FetchError("transfer_failed", f"got {transfer.done} of {size} bytes from {host}")
    except (TimeoutError, socket.timeout):
        raise FetchError("timeout", f"ftp server {host} stopped answering (read timeout)") from None
    except ftplib.Error as exc:
        raise FetchError("transfer_failed", f"ftp error from {host}: {exc}") from None
    except (OSError, EOFError) as exc:
        raise FetchError("transfer_failed", f"ftp connection to {host} broke off: {exc}") from None
    finally:
        ftp.close()
