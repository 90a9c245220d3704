"""URL uploads over FTP (pyftpdlib) and S3 (moto's server), both real servers on loopback."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

from orchestrator.fetch.fetchers import FetchError, FetchSettings, fetch_url
from tests.fetch_support import MiB, canary, connects, settings  # noqa: F401  (fixtures; connects is autouse)

# --------------------------------------------------------------------------- ftp (pyftpdlib)
@pytest.fixture
def ftp_server(tmp_path_factory: pytest.TempPathFactory):
    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    root = tmp_path_factory.mktemp("ftp-root")
    public, private = root / "public", root / "alice"
    (public / "pub").mkdir(parents=True)
    private.mkdir()
    auth = DummyAuthorizer()
    auth.add_anonymous(str(public))
    auth.add_user("alice", "s3cr3t:@/", str(private), perm="elr")
    handler = type("Handler", (FTPHandler,), {"authorizer": auth, "masquerade_address": "127.0.0.3"})
    server = FTPServer(("127.0.0.1", 0), handler)
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        server.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    server.public, server.private = public, private
    server.port = server.address[1]
    yield server
    stop.set()
    thread.join(10)


def test_ftp_anonymous_pasv_address_ignored(ftp_server, tmp_path: Path, connects) -> None:
    data = os.urandom(MiB + 3)
    (ftp_server.public / "pub" / "wrfinput_d01").write_bytes(data)
    res = fetch_url(f"ftp://127.0.0.1:{ftp_server.port}/pub/wrfinput_d01", tmp_path / "wrfinput_d01",
                    settings=settings())
    assert (res.size, res.sha256, res.filename_hint) == (len(data), hashlib.sha256(data).hexdigest(), "wrfinput_d01")
    assert (tmp_path / "wrfinput_d01").read_bytes() == data
    # The server's PASV reply named 127.0.0.3; the data connection still went to the vetted control host.
    assert "127.0.0.3" not in connects and set(connects) == {"127.0.0.1"} and len(connects) >= 2


def test_ftp_user_password(ftp_server, tmp_path: Path) -> None:
    (ftp_server.private / "wrfbdy_d01").write_bytes(b"alice's data")
    url = f"ftp://alice:s3cr3t%3A%40%2F@127.0.0.1:{ftp_server.port}/wrfbdy_d01"
    res = fetch_url(url, tmp_path / "wrfbdy_d01", settings=settings())
    assert res.size == 12 and (tmp_path / "wrfbdy_d01").read_bytes() == b"alice's data"


def test_ftp_wrong_password(ftp_server, tmp_path: Path) -> None:
    with pytest.raises(FetchError) as info:
        fetch_url(f"ftp://alice:nope@127.0.0.1:{ftp_server.port}/wrfbdy_d01", tmp_path / "f", settings=settings())
    assert info.value.code == "auth_failed"


def test_ftp_missing_file(ftp_server, tmp_path: Path) -> None:
    with pytest.raises(FetchError) as info:
        fetch_url(f"ftp://127.0.0.1:{ftp_server.port}/pub/nothing", tmp_path / "f", settings=settings())
    assert info.value.code == "not_found"
    assert list(tmp_path.iterdir()) == []


def test_ftp_too_large(ftp_server, tmp_path: Path) -> None:
    (ftp_server.public / "big").write_bytes(b"b" * (2 * MiB))
    with pytest.raises(FetchError) as info:
        fetch_url(f"ftp://127.0.0.1:{ftp_server.port}/big", tmp_path / "f", settings=settings(max_bytes=MiB))
    assert info.value.code == "too_large"
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- s3 (moto server)
@pytest.fixture(scope="module")
def s3_server():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.session.Session().client("s3", endpoint_url=endpoint, region_name="us-east-1",
                                            aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket="wrf-inputs")
    yield endpoint, client
    server.stop()


def s3_settings(endpoint: str, **kw) -> FetchSettings:
    return settings(s3_endpoint_url=endpoint, s3_region="us-east-1", s3_access_key="testing",
                    s3_secret_key="testing", **kw)


def test_s3_fetch_ok(s3_server, tmp_path: Path, connects) -> None:
    endpoint, client = s3_server
    data = os.urandom(MiB + 7)
    client.put_object(Bucket="wrf-inputs", Key="case1/wrfinput_d01", Body=data)
    res = fetch_url("s3://wrf-inputs/case1/wrfinput_d01", tmp_path / "wrfinput_d01", settings=s3_settings(endpoint))
    assert (res.size, res.sha256, res.filename_hint) == (len(data), hashlib.sha256(data).hexdigest(), "wrfinput_d01")
    assert (tmp_path / "wrfinput_d01").read_bytes() == data
    assert set(connects) == {"127.0.0.1"}


def test_s3_public_url_as_plain_http(s3_server, tmp_path: Path) -> None:
    endpoint, client = s3_server
    client.put_object(Bucket="wrf-inputs", Key="public/namelist.input", Body=b"&domains\n/\n", ACL="public-read")
    res = fetch_url(f"{endpoint}/wrf-inputs/public/namelist.input", tmp_path / "n", settings=settings())
    assert res.size == 11 and res.filename_hint == "namelist.input"


def test_s3_without_configured_keys_is_anonymous(s3_server, tmp_path: Path) -> None:
    """No keys configured → unsigned requests: public objects work, private ones are refused (403)."""
    endpoint, client = s3_server
    client.put_object(Bucket="wrf-inputs", Key="pub/f", Body=b"public", ACL="public-read")
    client.put_object(Bucket="wrf-inputs", Key="priv/f", Body=b"private")
    anon = settings(s3_endpoint_url=endpoint, s3_region="us-east-1")
    assert fetch_url("s3://wrf-inputs/pub/f", tmp_path / "a", settings=anon).size == 6
    with pytest.raises(FetchError) as info:
        fetch_url("s3://wrf-inputs/priv/f", tmp_path / "b", settings=anon)
    assert info.value.code == "http_error" and "403" in info.value.message


@pytest.mark.parametrize("url", ["s3://wrf-inputs/nope", "s3://no-such-bucket/key"])
def test_s3_not_found(s3_server, tmp_path: Path, url: str) -> None:
    with pytest.raises(FetchError) as info:
        fetch_url(url, tmp_path / "f", settings=s3_settings(s3_server[0]))
    assert info.value.code == "not_found"
    assert list(tmp_path.iterdir()) == []


def test_s3_too_large(s3_server, tmp_path: Path) -> None:
    endpoint, client = s3_server
    client.put_object(Bucket="wrf-inputs", Key="big", Body=b"B" * (2 * MiB))
    with pytest.raises(FetchError) as info:
        fetch_url("s3://wrf-inputs/big", tmp_path / "f", settings=s3_settings(endpoint, max_bytes=MiB))
    assert info.value.code == "too_large"


def test_s3_endpoint_not_allowlisted_refused(canary, tmp_path: Path, connects) -> None:
    with pytest.raises(FetchError) as info:
        fetch_url("s3://wrf-inputs/x", tmp_path / "f",
                  settings=s3_settings(f"http://127.0.0.1:{canary.port}", allowlist=()))
    assert info.value.code == "address_not_allowed"
    assert connects == [] and canary.connections() == 0


def test_s3_bad_bucket_name(tmp_path: Path) -> None:
    with pytest.raises(FetchError) as info:
        fetch_url("s3://Bad@Bucket/x", tmp_path / "f", settings=settings())
    assert info.value.code == "bad_url"
