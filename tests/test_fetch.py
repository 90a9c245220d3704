"""URL uploads over http(s) against a real http.server on loopback: redirects, caps, timeouts, TLS; the SSRF
guard (also through redirects and names resolving to loopback); pure URL helpers. FTP and S3: test_fetch_ftp_s3.py."""

from __future__ import annotations

import hashlib
import os
import ssl
import threading
import types
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from orchestrator.fetch.fetchers import FetchError, FetchSettings, derive_filename, fetch_url, settings_from_config, validate_url
from orchestrator.fetch.ssrf import check_address, resolve_and_check
from orchestrator.store.uploads import AtomicFileWriter, UploadError
from tests.fetch_support import (  # noqa: F401  (fixtures: pytest finds them by name; connects is autouse)
    MiB, Canary, Handler, HTTPServerThread, canary, connects, http_server, http_server_alias, settings, temps,
)

# --------------------------------------------------------------------------- http tests
def test_http_fetch_ok_hash_progress_host_header(http_server, tmp_path: Path, connects) -> None:
    data = os.urandom(3 * MiB + 5)
    http_server.files["wrfinput_d01"] = data
    seen: list[int] = []
    res = fetch_url(f"{http_server.base}/files/wrfinput_d01", tmp_path / "wrfinput_d01",
                    settings=settings(), progress=seen.append)
    assert (res.size, res.sha256, res.filename_hint) == (len(data), hashlib.sha256(data).hexdigest(), "wrfinput_d01")
    assert (tmp_path / "wrfinput_d01").read_bytes() == data and temps(tmp_path) == []
    assert seen and seen == sorted(seen) and seen[-1] == len(data)
    assert http_server.hits[-1][1] == f"127.0.0.1:{http_server.port}"
    assert set(connects) == {"127.0.0.1"}


def test_http_allowlisted_name_connects_to_vetted_ip_with_original_host(http_server, tmp_path, connects) -> None:
    http_server.files["f"] = b"abc"
    res = fetch_url(f"http://localhost:{http_server.port}/files/f", tmp_path / "f",
                    settings=settings(allowlist=("localhost",)))
    assert res.size == 3
    assert http_server.hits[-1][1] == f"localhost:{http_server.port}"  # Host header keeps the name
    assert set(connects) == {"127.0.0.1"}  # the socket went to the address vetted once


def test_http_failure_keeps_old_file_success_replaces(http_server, tmp_path: Path) -> None:
    dest = tmp_path / "wrfbdy_d01"
    dest.write_bytes(b"old good copy")
    with pytest.raises(FetchError) as info:
        fetch_url(f"{http_server.base}/files/missing", dest, settings=settings())
    assert info.value.code == "not_found"
    assert dest.read_bytes() == b"old good copy" and temps(tmp_path) == []
    http_server.files["wrfbdy_d01"] = b"new copy"
    fetch_url(f"{http_server.base}/files/wrfbdy_d01", dest, settings=settings())
    assert dest.read_bytes() == b"new copy" and temps(tmp_path) == []


def test_http_fetch_into_writer_is_not_committed(http_server, tmp_path: Path) -> None:
    http_server.files["f"] = b"payload"
    dest = tmp_path / "f"
    with AtomicFileWriter(dest, max_bytes=MiB) as w:
        res = fetch_url(f"{http_server.base}/files/f", w, settings=settings())
        assert not dest.exists() and res.sha256 == hashlib.sha256(b"payload").hexdigest()
        w.commit()
    assert dest.read_bytes() == b"payload"


def test_http_redirect_chain_followed(http_server, tmp_path: Path) -> None:
    http_server.files["namelist.input"] = b"&time_control\n/\n"
    res = fetch_url(f"{http_server.base}/redirect/4/namelist.input", tmp_path / "x", settings=settings())
    assert res.size == 16 and res.filename_hint == "namelist.input"
    assert [h[0] for h in http_server.hits][-5:] == [
        "/redirect/4/namelist.input", "/redirect/3/namelist.input", "/redirect/2/namelist.input",
        "/redirect/1/namelist.input", "/files/namelist.input"]


@pytest.mark.parametrize("path", ["/redirect/4/f", "/loop"])
def test_http_too_many_redirects(http_server, tmp_path: Path, path: str) -> None:
    http_server.files["f"] = b"x"
    with pytest.raises(FetchError) as info:
        fetch_url(http_server.base + path, tmp_path / "f", settings=settings(max_redirects=2))
    assert info.value.code == "too_many_redirects"
    assert len(http_server.hits) == 3 and not (tmp_path / "f").exists()


@pytest.mark.parametrize("target", ["ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://127.0.0.1:70/x"])
def test_http_redirect_to_other_scheme_refused(http_server, tmp_path: Path, target: str) -> None:
    with pytest.raises(FetchError) as info:
        fetch_url(f"{http_server.base}/to?{target}", tmp_path / "f", settings=settings())
    assert info.value.code == "url_scheme_not_allowed"


@pytest.mark.parametrize("status", [403, 500, 503])
def test_http_error_status(http_server, tmp_path: Path, status: int) -> None:
    with pytest.raises(FetchError) as info:
        fetch_url(f"{http_server.base}/status/{status}", tmp_path / "f", settings=settings())
    assert info.value.code == "http_error" and str(status) in info.value.message


def test_http_huge_content_length_refused_early(http_server, tmp_path: Path) -> None:
    with pytest.raises(FetchError) as info:
        fetch_url(f"{http_server.base}/huge-length", tmp_path / "f", settings=settings(max_bytes=MiB))
    assert info.value.code == "too_large" and str(10**12) in info.value.message
    assert list(tmp_path.iterdir()) == []


def test_http_endless_stream_hits_size_cap(http_server, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"previous")
    with pytest.raises(FetchError) as info:
        fetch_url(f"{http_server.base}/endless", tmp_path / "f", settings=settings(max_bytes=2 * MiB))
    assert info.value.code == "too_large"
    assert (tmp_path / "f").read_bytes() == b"previous" and temps(tmp_path) == []


def test_http_slow_response_hits_total_timeout(http_server, tmp_path: Path) -> None:
    with pytest.raises(FetchError) as info:
        fetch_url(f"{http_server.base}/slow", tmp_path / "f", settings=settings(read_timeout=5.0, total_timeout=1.0))
    assert info.value.code == "timeout"
    assert list(tmp_path.iterdir()) == []


def test_http_stalled_response_hits_read_timeout(http_server, tmp_path: Path) -> None:
    with pytest.raises(FetchError) as info:
        fetch_url(f"{http_server.base}/stall", tmp_path / "f", settings=settings(read_timeout=0.5, total_timeout=60.0))
    assert info.value.code == "timeout"
    assert list(tmp_path.iterdir()) == []


def test_http_truncated_body_is_not_kept(http_server, tmp_path: Path) -> None:
    with pytest.raises(FetchError) as info:
        fetch_url(f"{http_server.base}/short", tmp_path / "f", settings=settings())
    assert info.value.code == "transfer_failed"
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- https
def _make_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for DNS:localhost only (no IP SAN), as PEM files."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cloudrun test CA")])
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_pem, cert_pem, key_pem = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return ca_pem, cert_pem, key_pem


@pytest.fixture
def https_server(tmp_path_factory: pytest.TempPathFactory):
    ca_pem, cert_pem, key_pem = _make_tls_files(tmp_path_factory.mktemp("tls"))
    srv = HTTPServerThread.__new__(HTTPServerThread)
    srv.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_pem, key_pem)
    srv.server.socket = context.wrap_socket(srv.server.socket, server_side=True)
    srv.server.daemon_threads, srv.server.block_on_close = True, False
    srv.server.files, srv.server.hits, srv.server.stop = {}, [], threading.Event()
    srv.host, srv.port = "127.0.0.1", srv.server.server_address[1]
    srv.base = f"https://localhost:{srv.port}"
    srv.thread = threading.Thread(target=srv.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    srv.thread.start()
    srv.ca = str(ca_pem)
    yield srv
    srv.close()


def test_https_by_name_verifies_certificate_against_the_name(https_server, tmp_path: Path, connects) -> None:
    """Connected to the vetted IP, yet TLS (SNI + certificate check) and Host use the URL's name."""
    https_server.files["wrfinput_d01"] = b"tls payload"
    res = fetch_url(f"{https_server.base}/files/wrfinput_d01", tmp_path / "f",
                    settings=settings(allowlist=("localhost",), ca_bundle=https_server.ca))
    assert res.size == 11 and (tmp_path / "f").read_bytes() == b"tls payload"
    assert https_server.hits[-1][1] == f"localhost:{https_server.port}"
    assert set(connects) == {"127.0.0.1"}


def test_https_certificate_not_matching_is_refused(https_server, tmp_path: Path) -> None:
    https_server.files["f"] = b"x"
    # The certificate names localhost only: by IP it must fail, and without the test CA it must fail.
    for url, ca in ((f"https://127.0.0.1:{https_server.port}/files/f", https_server.ca),
                    (f"{https_server.base}/files/f", None)):
        with pytest.raises(FetchError) as info:
            fetch_url(url, tmp_path / "f", settings=settings(allowlist=("localhost", "127.0.0.1/32"), ca_bundle=ca))
        assert info.value.code == "connect_failed" and "CERTIFICATE" in info.value.message.upper()
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- SSRF
REFUSED_HOSTS = ["10.0.0.1", "192.168.1.1", "172.16.0.1", "169.254.169.254", "224.0.0.1", "0.0.0.0",
                 "100.64.0.1", "[::ffff:169.254.169.254]", "[fd00:ec2::254]", "[fe80::1]", "240.0.0.1"]


@pytest.mark.parametrize("host", REFUSED_HOSTS)
@pytest.mark.parametrize("scheme", ["http", "https", "ftp"])
def test_ssrf_refused_before_any_connect(tmp_path: Path, connects, host: str, scheme: str) -> None:
    with pytest.raises(FetchError) as info:
        fetch_url(f"{scheme}://{host}/latest/meta-data/iam", tmp_path / "f", settings=settings(allowlist=()))
    assert info.value.code == "address_not_allowed"
    assert host.strip("[]").split("::ffff:")[-1] in info.value.message
    assert connects == [] and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("template", ["http://127.0.0.1:{port}/x", "ftp://127.0.0.1:{port}/x",
                                      "http://localhost:{port}/x", "http://2130706433:{port}/x",
                                      "http://127.1:{port}/x", "http://[::ffff:127.0.0.1]:{port}/x"])
def test_ssrf_loopback_and_names_resolving_to_it_refused(canary, tmp_path: Path, connects, template: str) -> None:
    with pytest.raises(FetchError) as info:
        fetch_url(template.format(port=canary.port), tmp_path / "f", settings=settings(allowlist=()))
    assert info.value.code == "address_not_allowed" and "loopback" in info.value.message
    assert connects == [] and canary.connections() == 0


def test_ssrf_ipv6_loopback_refused(tmp_path: Path, connects) -> None:
    canary6 = Canary("::1")
    try:
        with pytest.raises(FetchError) as info:
            fetch_url(f"http://[::1]:{canary6.port}/x", tmp_path / "f", settings=settings(allowlist=()))
        assert info.value.code == "address_not_allowed"
        assert connects == [] and canary6.connections() == 0
    finally:
        canary6.close()


@pytest.mark.parametrize("target", ["http://127.0.0.1:{port}/x", "http://localhost:{port}/x",
                                    "http://169.254.169.254/latest/meta-data/", "https://10.0.0.1/x",
                                    "http://[::1]:{port}/x"])
def test_ssrf_redirect_to_disallowed_address_refused(http_server_alias, canary, tmp_path, connects, target) -> None:
    """Only 127.0.0.2 is allow-listed; it redirects elsewhere; the next hop is refused before connecting."""
    url = f"{http_server_alias.base}/to?{target.format(port=canary.port)}"
    with pytest.raises(FetchError) as info:
        fetch_url(url, tmp_path / "f", settings=settings(allowlist=("127.0.0.2/32",)))
    assert info.value.code == "address_not_allowed"
    assert len(http_server_alias.hits) == 1
    assert set(connects) == {"127.0.0.2"} and canary.connections() == 0
    assert list(tmp_path.iterdir()) == []


def test_ssrf_redirect_within_allowlist_followed(http_server_alias, http_server, tmp_path: Path) -> None:
    http_server.files["f"] = b"ok"
    url = f"{http_server_alias.base}/to?{http_server.base}/files/f"
    res = fetch_url(url, tmp_path / "f", settings=settings(allowlist=("127.0.0.2/32", "127.0.0.1/32")))
    assert res.size == 2


def test_resolve_and_check_returns_vetted_addresses() -> None:
    assert resolve_and_check("localhost", 80, ["127.0.0.0/8"]) == ["127.0.0.1"]
    assert resolve_and_check("LOCALHOST.", 80, ["localhost"]) == ["127.0.0.1"]
    with pytest.raises(FetchError) as info:
        resolve_and_check("localhost", 80, ["127.0.0.2/32"])
    assert info.value.code == "address_not_allowed" and "127.0.0.1" in info.value.message
    with pytest.raises(FetchError) as info:
        resolve_and_check("name.invalid", 80, [])
    assert info.value.code == "resolve_failed"


@pytest.mark.parametrize("ip, words", [
    ("127.0.0.1", "loopback"), ("10.0.0.1", "private"), ("192.168.1.1", "private"), ("172.16.0.1", "private"),
    ("169.254.169.254", "metadata"), ("169.254.1.1", "link-local"), ("::1", "loopback"), ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"), ("0.0.0.0", "unspecified"), ("::", "unspecified"), ("100.64.0.1", "shared"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"), ("fe80::1%eth0", "link-local"),
    ("fc00::1", "private"), ("::ffff:10.0.0.1", "private"), ("64:ff9b::7f00:1", "loopback"),
    ("2002:a9fe:a9fe::1", "metadata"), ("192.0.2.1", "documentation"),
])
def test_check_address_refuses(ip: str, words: str) -> None:
    reason = check_address(ip, [])
    assert reason is not None and words in reason


def test_check_address_allows_public_and_allowlisted() -> None:
    assert check_address("8.8.8.8", []) is None
    assert check_address("2606:4700:4700::1111", []) is None
    assert check_address("10.1.2.3", ["10.1.0.0/16"]) is None
    assert check_address("::ffff:10.1.2.3", ["10.1.0.0/16"]) is None
    assert check_address("10.2.0.1", ["10.1.0.0/16", "data.internal"]) is not None
    assert check_address("not-an-ip", []) is not None


# --------------------------------------------------------------------------- pure URL helpers
@pytest.mark.parametrize("url, code", [
    ("file:///etc/passwd", "url_scheme_not_allowed"), ("gopher://h/x", "url_scheme_not_allowed"),
    ("javascript:alert(1)", "url_scheme_not_allowed"), ("dict://h:11211/", "url_scheme_not_allowed"),
    ("//host/x", "url_scheme_not_allowed"), ("http://", "bad_url"), ("http://exa mple.com/x", "bad_url"),
    ("http://h:99999/x", "bad_url"), ("s3:///key", "bad_url"), ("", "bad_url"), ("http://h/\r\nX: y", "bad_url"),
])
def test_validate_url_refuses(url: str, code: str) -> None:
    with pytest.raises(FetchError) as info:
        validate_url(url)
    assert info.value.code == code


@pytest.mark.parametrize("url, name", [
    ("http://h/a/wrfinput_d01", "wrfinput_d01"), ("https://h/wrf%20bdy?x=1#y", "wrf bdy"),
    ("ftp://h/pub/namelist.input;type=i", "namelist.input"), ("s3://bucket/dir/wrfbdy_d01", "wrfbdy_d01"),
    ("s3://bucket/a%20b", "a%20b"),
])
def test_derive_filename(url: str, name: str) -> None:
    assert derive_filename(url) == name


@pytest.mark.parametrize("url", ["http://h/", "http://h", "http://h/..%2f..%2fetc%2fpasswd", "http://h/%2e%2e",
                                 "http://h/.hidden", "http://h/a%00b", "http://h/x%2fy"])
def test_derive_filename_refuses(url: str) -> None:
    with pytest.raises(UploadError) as info:
        derive_filename(url)
    assert info.value.code == "bad_filename"


def test_fetch_is_thread_safe(http_server, tmp_path: Path) -> None:
    payloads = {f"f{i}": os.urandom(200_000 + i) for i in range(8)}
    http_server.files.update(payloads)
    results: dict[str, str] = {}

    def worker(name: str) -> None:
        results[name] = fetch_url(f"{http_server.base}/files/{name}", tmp_path / name, settings=settings()).sha256

    threads = [threading.Thread(target=worker, args=(n,)) for n in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == {n: hashlib.sha256(d).hexdigest() for n, d in payloads.items()}
    assert all((tmp_path / n).read_bytes() == d for n, d in payloads.items())


def test_settings_from_config() -> None:
    uploads = types.SimpleNamespace(
        fetch_max_bytes=123, fetch_connect_timeout=1, fetch_read_timeout=2, fetch_total_timeout=3,
        fetch_max_redirects=4, fetch_allowlist=["10.0.0.0/8", "data.internal"], s3_endpoint_url="",
        s3_region="eu-west-1", s3_access_key="", s3_secret_key="")
    expected = FetchSettings(max_bytes=123, connect_timeout=1.0, read_timeout=2.0, total_timeout=3.0, max_redirects=4,
                             allowlist=("10.0.0.0/8", "data.internal"), s3_endpoint_url=None, s3_region="eu-west-1",
                             s3_access_key=None, s3_secret_key=None)
    assert settings_from_config(types.SimpleNamespace(uploads=uploads)) == expected
    assert settings_from_config(uploads) == expected
