"""Where people open a run's report (and the history site): an http base URL when one is
configured, else a presigned S3 GET URL for an ``s3://`` store, else the stored file's URI."""
from __future__ import annotations

import logging
import os
from typing import Any

from perf_tasks.store import ArtifactStore, S3Store, open_store, safe_id

log = logging.getLogger(__name__)

MAX_PRESIGN_S = 7 * 24 * 3600  # SigV4 presigned URLs live at most 7 days

_TYPES = {".html": "text/html; charset=utf-8", ".svg": "image/svg+xml", ".json": "application/json"}


def presigned_url(store: S3Store, key: str, *, expiry_s: float) -> str:
    """A GET URL for ``key`` (relative to the store's root) signed with the store's client's
    credentials, valid ``expiry_s`` seconds (1 s .. 7 days). HTML is served as text/html whatever
    content type it was stored with, so a browser renders it."""
    expires = int(min(MAX_PRESIGN_S, max(1, expiry_s)))
    params: dict[str, Any] = {"Bucket": store.bucket, "Key": f"{store.prefix}/{key}" if store.prefix else key}
    ctype = next((t for ext, t in _TYPES.items() if key.endswith(ext)), None)
    if ctype:
        params["ResponseContentType"] = ctype
    return store.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires)


def stored_link(store: ArtifactStore, key: str, *, base: str = "", expiry_h: float = 168.0) -> str:
    """``<base>/<key>`` when ``base`` (an http(s) URL) is given; else a presigned URL for an S3
    store (its ``s3://`` URI when signing fails: no credentials); else the store's URI (file://)."""
    if base:
        return f"{base.rstrip('/')}/{key}"
    if isinstance(store, S3Store):
        try:
            return presigned_url(store, key, expiry_s=expiry_h * 3600)
        except Exception as exc:  # noqa: BLE001 - botocore raises several kinds; the link falls back
            log.warning("could not presign %s (%s): linking the s3:// URI", store.uri(key), exc)
    return store.uri(key)


def report_link(artifacts_url: str, dag_id: str, run_id: str, *, base: str | None = None, expiry_h: float = 168.0,
                store: ArtifactStore | None = None, relpath: str = "report.html") -> str:
    """The link to a run's report: ``base`` (else ``$PERF_REPORT_BASE_URL``) + ``/<dag>/<run>/report.html``,
    else as :func:`stored_link`. ``store``: the already-open store (e.g. with the Airflow S3 hook's
    client), else opened from ``artifacts_url``."""
    base = base if base is not None else os.environ.get("PERF_REPORT_BASE_URL", "")
    key = f"{safe_id(dag_id, what='DAG id')}/{safe_id(run_id, what='run id')}/{relpath}"
    if base:
        return f"{base.rstrip('/')}/{key}"
    return stored_link(store or open_store(artifacts_url, source="artifacts URL"), key, expiry_h=expiry_h)


# --- signed links (the /perf-reports route) ------------------------------------------------------
#
# A Slack message is read by people who may not be signed in to Airflow. The API server's
# /perf-reports route accepts, beside an Airflow login, a link signed for ONE run folder:
#
#     <base>/perf-reports/~link/<expires>.<signature>/<dag>/<run>/report.html
#
# ``expires``: Unix seconds; ``signature``: HMAC-SHA256 over "<dag>/<run>/<expires>" with the
# deployment's link secret (urlsafe base64, no padding). The token sits in the path, not in a
# query, so that pipeline.report_url's "<base>/<dag>/<run>/report.html" shape stays as it is and
# the report's relative links inside the run folder keep the signature. Pure functions: the secret
# and the clock come in as arguments.

#: the path segment that introduces a signed link under the reports route
SIGNED_PREFIX = "~link"
#: environment variable holding the secret (any string; 32+ random bytes recommended)
LINK_SECRET_ENV = "PERF_REPORTS_LINK_SECRET"


def link_signature(secret: str, dag_id: str, run_id: str, expires: int) -> str:
    """HMAC-SHA256 of ``<dag>/<run>/<expires>`` (the store's safe ids) under ``secret``."""
    import base64
    import hashlib
    import hmac

    if not secret:
        raise ValueError("a signed report link needs a non-empty secret")
    msg = f"perf-reports-link:v1:{dag_id}/{run_id}/{int(expires)}".encode()
    digest = hmac.new(secret.encode(), msg, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def link_token(secret: str, dag_id: str, run_id: str, *, now_s: float, ttl_s: float) -> str:
    """``<expires>.<signature>`` for the run folder ``<dag>/<run>`` (safe ids), valid ``ttl_s``
    seconds from ``now_s`` (at least 1 s, at most 7 days)."""
    expires = int(now_s + min(MAX_PRESIGN_S, max(1.0, ttl_s)))
    return f"{expires}.{link_signature(secret, dag_id, run_id, expires)}"


def check_link_token(secret: str, token: str, dag_id: str, run_id: str, *, now_s: float) -> str:
    """'' when ``token`` grants the run folder ``<dag>/<run>`` at ``now_s``; else why not
    ("malformed", "expired", "bad signature"). Constant-time comparison."""
    import hmac

    if not secret:
        return "signed links are not enabled (no link secret)"
    expires_s, sep, sig = token.partition(".")
    if not sep or not expires_s.isdigit() or not sig:
        return "malformed"
    if int(expires_s) < now_s:
        return "expired"
    if not hmac.compare_digest(sig, link_signature(secret, dag_id, run_id, int(expires_s))):
        return "bad signature"
    return ""


def signed_base(base: str, secret: str, dag_id: str, run_id: str, *, now_s: float, ttl_s: float) -> str:
    """``<base>/~link/<token>``: a report base (the ``/perf-reports`` route) whose
    ``<base>/<dag>/<run>/<file>`` links open without an Airflow login until the token expires."""
    token = link_token(secret, safe_id(dag_id, what="DAG id"), safe_id(run_id, what="run id"), now_s=now_s,
                       ttl_s=ttl_s)
    return f"{base.rstrip('/')}/{SIGNED_PREFIX}/{token}"
