"""s3://bucket/key fetcher through boto3, endpoint/region/credentials from FetchSettings.

- A configured endpoint is SSRF-checked like any host (allow-list it, e.g. an internal MinIO), and
  path-style addressing is forced so the user's bucket name can never become part of the host name.
- Without configured keys, requests are unsigned: the service's ambient credentials (instance role,
  env) are never used for a user's URL, or a user could read any bucket the service can.
- Public ``https://<bucket>.s3.amazonaws.com/key`` URLs are plain https (http_fetch), not this.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

import boto3
import botocore.config
import botocore.exceptions
from botocore import UNSIGNED

from orchestrator.fetch.common import Transfer
from orchestrator.fetch.errors import FetchError
from orchestrator.fetch.ssrf import resolve_and_check

_CHUNK = 256 * 1024
# Bucket names: S3 rules (incl. legacy upper case/underscore); keeps them out of any URL syntax.
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$")


def s3_location(parts: SplitResult) -> tuple[str, str]:
    """(bucket, key) of an ``s3://bucket/key`` URL. The key is taken literally, as the AWS CLI does."""
    bucket = parts.netloc
    key = parts.path[1:] if parts.path.startswith("/") else parts.path
    if parts.query:
        key = f"{key}?{parts.query}"  # '?' is a legal key character
    if not _BUCKET.match(bucket):
        raise FetchError("bad_url", f"{bucket!r} is not a valid S3 bucket name")
    if not key or key.endswith("/"):
        raise FetchError("bad_url", "the s3 URL does not name an object (s3://bucket/key)")
    return bucket, key


def _client(transfer: Transfer):  # -> S3Client
    s = transfer.settings
    config_kwargs: dict = {
        "connect_timeout": s.connect_timeout,
        "read_timeout": s.read_timeout,
        "retries": {"max_attempts": 2, "mode": "standard"},
    }
    if s.s3_endpoint_url:
        config_kwargs["s3"] = {"addressing_style": "path"}
    if not s.s3_access_key:
        config_kwargs["signature_version"] = UNSIGNED
    # A Session per fetch: boto3's default session is not thread-safe.
    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=s.s3_endpoint_url or None,
        region_name=s.s3_region or "us-east-1",
        aws_access_key_id=s.s3_access_key or None,
        aws_secret_access_key=s.s3_secret_key or None,
        config=botocore.config.Config(**config_kwargs),
    )


def fetch_s3(parts: SplitResult, transfer: Transfer) -> None:
    """Download the object named by ``parts`` (s3://bucket/key) into ``transfer``. Raises FetchError."""
    bucket, key = s3_location(parts)
    s = transfer.settings
    if s.s3_endpoint_url:
        ep = urlsplit(s.s3_endpoint_url)
        resolve_and_check(ep.hostname or "", ep.port or (443 if ep.scheme == "https" else 80), s.allowlist)
    where = f"s3://{bucket}/{key}"
    body = None
    try:
        response = _client(transfer).get_object(Bucket=bucket, Key=key)
        body = response["Body"]
        transfer.check_declared(response.get("ContentLength"))
        while True:
            chunk = body.read(_CHUNK)
            if not chunk:
                break
            transfer.write(chunk)
    except botocore.exceptions.ClientError as exc:
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("NoSuchKey", "NoSuchBucket", "404") or status == 404:
            raise FetchError("not_found", f"{where} does not exist ({code or status})") from None
        raise FetchError("http_error", f"S3 refused {where}: {code} {err.get('Message', '')} (HTTP {status})") from None
    except (botocore.exceptions.ConnectTimeoutError, botocore.exceptions.ReadTimeoutError):
        raise FetchError("timeout", f"S3 did not answer in time for {where}") from None
    except botocore.exceptions.EndpointConnectionError as exc:
        raise FetchError("connect_failed", f"cannot connect to S3 for {where}: {exc}") from None
    except botocore.exceptions.BotoCoreError as exc:
        raise FetchError("transfer_failed", f"S3 download of {where} failed: {exc}") from None
    finally:
        if body is not None:
            body.close()
