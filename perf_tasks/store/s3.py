"""Artifact store on S3 or any S3-compatible endpoint (MinIO, moto): ``s3://bucket/prefix``.

perf_tasks talks boto3 directly so the CLI works without Airflow; inside Airflow the operator
passes in the client built by the amazon provider's S3Hook from the ``aws_default`` connection
(``extra.endpoint_url`` for MinIO). Retries are one layer: the client's own, botocore's
``standard`` mode with :data:`DEFAULT_ATTEMPTS` attempts in all (:func:`client_config`; give the
S3Hook the same ``config``); the store adds no loop of its own. After the last try the error
names the endpoint, the key, the attempts and the cause.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

from perf_tasks.errors import StoreError
from perf_tasks.store.base import ArtifactStore

log = logging.getLogger(__name__)
_T = TypeVar("_T")

#: S3 error codes botocore retries (throttling and server side): after its last attempt such an
#: error means "unreachable or failing", any other means "refused the request"
_RETRY_CODES = {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "503", "500",
                "Throttling", "ThrottlingException", "RequestTimeTooSkewed"}

#: attempts per request, the first included (botocore ``total_max_attempts``)
DEFAULT_ATTEMPTS = 4


def content_type(key: str) -> str:
    """The Content-Type of an artifact by its extension (``application/octet-stream`` otherwise)."""
    import mimetypes

    known = {".json": "application/json", ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml",
             ".csv": "text/csv; charset=utf-8", ".md": "text/markdown; charset=utf-8", ".txt": "text/plain; charset=utf-8",
             ".xml": "application/xml"}
    suffix = "." + key.rsplit(".", 1)[-1].lower() if "." in key.rsplit("/", 1)[-1] else ""
    return known.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


def client_config(attempts: int = DEFAULT_ATTEMPTS) -> Any:
    """The botocore Config of the store's clients: short timeouts, path addressing, SigV4 (what
    AWS regions require) and botocore's ``standard`` retry mode with ``attempts`` attempts in all
    (exponential backoff with jitter; throttling and 5xx retried, other 4xx not)."""
    from botocore.config import Config

    return Config(connect_timeout=3, read_timeout=20, retries={"mode": "standard", "total_max_attempts": attempts},
                  s3={"addressing_style": "path"}, signature_version="s3v4")


def default_client(endpoint_url: str | None = None, *, attempts: int = DEFAULT_ATTEMPTS) -> Any:
    """A boto3 S3 client from the environment (``AWS_*`` variables, ``PERF_S3_ENDPOINT_URL``)."""
    import boto3

    endpoint_url = endpoint_url or os.environ.get("PERF_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
    return boto3.client("s3", endpoint_url=endpoint_url, config=client_config(attempts))


def _attempts_made(exc: Exception, client: Any) -> str:
    """How many attempts the client made: from the response when there is one, else its config."""
    response = getattr(exc, "response", None)
    retried = response.get("ResponseMetadata", {}).get("RetryAttempts") if isinstance(response, dict) else None
    if retried is not None:
        return str(retried + 1)
    retries = getattr(getattr(getattr(client, "meta", None), "config", None), "retries", None) or {}
    total = retries.get("total_max_attempts") or (retries["max_attempts"] + 1 if "max_attempts" in retries else None)
    return str(total) if total else "?"


def _is_transient(exc: Exception) -> bool:
    from botocore.exceptions import (ClientError, ConnectionClosedError, ConnectTimeoutError,
                                     EndpointConnectionError, ReadTimeoutError)

    if isinstance(exc, (EndpointConnectionError, ConnectionClosedError, ConnectTimeoutError, ReadTimeoutError)):
        return True
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code")) in _RETRY_CODES
    return False


class S3Store(ArtifactStore):
    def __init__(self, bucket: str, prefix: str = "", *, client: Any = None,
                 attempts: int = DEFAULT_ATTEMPTS) -> None:
        """``client``: a boto3 S3 client with its own retry config (the S3Hook's); without one, a
        :func:`default_client` with ``attempts`` attempts per request."""
        if not bucket:
            raise StoreError("S3 store needs a bucket: s3://bucket[/prefix]")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client if client is not None else default_client(attempts=attempts)
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    @property
    def endpoint(self) -> str:
        return getattr(getattr(self.client, "meta", None), "endpoint_url", "?")

    def _call(self, what: str, key: str, fn: Callable[[], _T]) -> _T:
        """One call (the client retries it, per its config), its failure as a StoreError."""
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - classified below, re-raised as StoreError
            kind = "unreachable or failing" if _is_transient(exc) else "refused the request"
            raise StoreError(f"S3 {kind}: {what} s3://{self.bucket}/{self._key(key)} at endpoint {self.endpoint} "
                             f"failed after {_attempts_made(exc, self.client)} attempt(s): {exc}") from exc

    def preflight(self) -> str:
        """HEAD the bucket once (no retries): a missing bucket or denied access is an error now,
        not after minutes of measuring; an unreachable endpoint is a warning."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:  # noqa: BLE001 - classified below
            if _is_transient(exc):
                return (f"S3 endpoint {self.endpoint} unreachable now ({exc}): measuring anyway; the artifacts stay "
                        "in the work folder if it does not come back")
            code = ""
            response = getattr(exc, "response", None)
            if isinstance(response, dict):
                code = str(response.get("Error", {}).get("Code", ""))
            why = {"404": "no such bucket", "NoSuchBucket": "no such bucket", "403": "access denied",
                   "AccessDenied": "access denied"}.get(code, str(exc))
            raise StoreError(f"artifact store {self.url} at endpoint {self.endpoint}: {why} (bucket "
                             f"{self.bucket!r}); create it or fix the URL before running") from None
        return ""

    def put_bytes(self, key: str, data: bytes) -> None:
        extra = {"ContentType": content_type(key)}  # report.html opens as a page from S3 static hosting
        self._call("put", key, lambda: self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data,
                                                              **extra))

    def get_bytes(self, key: str) -> bytes:
        def get() -> bytes:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        return self._call("get", key, get)

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        def head() -> bool:
            try:
                self.client.head_object(Bucket=self.bucket, Key=self._key(key))
                return True
            except ClientError as exc:
                if str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise  # 403 and friends are errors, not "absent"
        return self._call("head", key, head)

    def list_keys(self, prefix: str) -> list[str]:
        def list_all() -> list[str]:
            out: list[str] = []
            paginator = self.client.get_paginator("list_objects_v2")
            strip = len(self.prefix) + 1 if self.prefix else 0
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
                out.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
            return sorted(out)
        return self._call("list", prefix, list_all)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"
