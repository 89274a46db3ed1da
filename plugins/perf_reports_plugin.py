"""Airflow plugin: stored run reports over http, for signed-in Airflow users, and the "Report" extra link.

The API server mounts a small FastAPI app at ``/perf-reports``. It serves a run's artifacts (its
``report.html`` above all) from the deployment's artifact store (``$PERF_ARTIFACTS_URL``: a local
folder or S3, read with the same store code the pipeline writes with), so a report is one click
away from the run page, also when the store is a local folder that a browser cannot open.

Routes (read-only; keys are checked to stay inside the store):

- ``GET /perf-reports/<dag>/``: the stored runs, newest first.
- ``GET /perf-reports/<dag>/<run>/<file>``: one artifact; ``<run>/`` serves ``report.html``.
- ``GET /perf-reports/~link/<expires>.<signature>/<dag>/<run>/<file>``: the same without a login,
  for links that leave Airflow (Slack): signed for that one run folder with the deployment's link
  secret ($PERF_REPORTS_LINK_SECRET, else derived from ``[api] secret_key``) until ``expires``
  (perf_tasks.report.links; the notify step signs them, alerts.yaml ``slack.report_link_expiry_h``).

Who may read: the Airflow auth manager decides, with the core API's own dependencies
(``airflow.api_fastapi.core_api.security``): the JWT from ``Authorization: Bearer`` or from the
``_token`` cookie the UI sets (so the Report link opens in the browser where one signed in), and
``GET`` permission on the DAG's runs (``DagAccessEntity.RUN``) for ``<dag>``. Otherwise 401 (no or
an expired token) or 403 (invalid token, no permission, bad or expired signature), on every path:
unknown paths answer 404 only to a signed-in user; there is no /docs or /openapi.json.

Every answer carries ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` (a signed
link never leaks through a Referer) and a Content-Security-Policy that the self-contained report
satisfies: no network fetches at all, inline styles (the report's ``<style>`` and matplotlib's SVG),
``data:`` images, and only the scripts of this project's report templates (by SHA-256 hash).
Error bodies name the requested key, never the store's location.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import mimetypes
import re
import time
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import get_user, requires_access_dag
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from perf_operators.steps import REPORTS_ROUTE, ReportLink, link_secret

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parents[1] / "perf_tasks" / "report" / "templates"

#: media types by suffix; the rest from ``mimetypes``, else application/octet-stream
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".htm": "text/html; charset=utf-8",
               ".json": "application/json", ".svg": "image/svg+xml", ".txt": "text/plain; charset=utf-8",
               ".log": "text/plain; charset=utf-8", ".md": "text/plain; charset=utf-8",
               ".csv": "text/csv; charset=utf-8", ".xml": "application/xml", ".png": "image/png"}

# no docs, no OpenAPI schema, no redirect to a trailing slash (it would answer 307 without a login)
app = FastAPI(title="perf reports", description="Stored performance-run reports (read-only)",
              docs_url=None, redoc_url=None, openapi_url=None)
app.router.redirect_slashes = False

#: the dependency of every unsigned route: an Airflow user allowed to read ``<dag>``'s runs
READ_RUNS = Depends(requires_access_dag("GET", DagAccessEntity.RUN))


@lru_cache(maxsize=1)
def script_hashes() -> tuple[str, ...]:
    """CSP sources (``'sha256-...'``) of the inline scripts of the report and site templates."""
    out = []
    for tpl in sorted(TEMPLATES.glob("*.html")):
        for body in re.findall(r"<script>(.*?)</script>", tpl.read_text(encoding="utf-8"), flags=re.S):
            out.append("'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'")
    return tuple(out)


def content_security_policy() -> str:
    """What a stored report may do in the browser: render itself, nothing else."""
    scripts = " ".join(script_hashes()) or "'none'"
    return ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
            f"script-src {scripts}; base-uri 'none'; form-action 'none'; frame-ancestors 'self'")


def media_type(key: str) -> str:
    suffix = Path(key).suffix.lower()
    return MEDIA_TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


@app.middleware("http")
async def security_headers(request: Request, call_next: Any) -> Response:
    response = await call_next(request)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = content_security_policy()
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers.setdefault("Cache-Control", "private, no-cache")
    return response


@app.exception_handler(StarletteHTTPException)
async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """JSON as the core API answers; a browser that is not signed in gets a page with a sign-in
    link back to where it was (still 401)."""
    if exc.status_code == 401 and "text/html" in request.headers.get("accept", ""):
        from airflow.api_fastapi.app import get_auth_manager

        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        login = get_auth_manager().get_url_login(next_url=back)
        return HTMLResponse(f"<!doctype html><title>Sign in</title><p>{escape(str(exc.detail))}: "
                            f"<a href='{escape(login)}'>sign in to Airflow</a> to read this report.</p>",
                            status_code=401)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def _store():
    from perf_tasks.pipeline import default_artifacts_url
    from perf_tasks.store import open_store

    return open_store(default_artifacts_url(), source="$PERF_ARTIFACTS_URL")


def _check_ids(*ids: str) -> None:
    """Only the store's own (safe) ids: the id that was authorised is the folder that is read."""
    from perf_tasks.store import safe_id

    for value in ids:
        try:
            ok = safe_id(value) == value
        except ValueError:
            ok = False
        if not ok:
            raise HTTPException(status_code=404, detail=f"{value!r}: no such DAG or run in the artifact store")


def _serve(dag_id: str, run_id: str, path: str) -> Response:
    from perf_tasks.errors import PerfError
    from perf_tasks.store import RunArtifacts

    _check_ids(dag_id, run_id)
    rel = path or "report.html"  # the run folder itself: its report
    try:
        run = RunArtifacts(_store(), dag_id, run_id)
        data = run.store.get_bytes(run.key(rel))
    except (PerfError, ValueError, OSError) as exc:
        log.info("perf-reports: %s/%s/%s not served: %s", dag_id, run_id, rel, exc)  # the store's path: logs only
        raise HTTPException(status_code=404, detail=f"{dag_id}/{run_id}/{rel}: not in the artifact store") from None
    return Response(content=data, media_type=media_type(rel))


# Order matters: the signed route first, the catch-all last.

@app.get("/~link/{token}/{dag_id}/{run_id}/{path:path}")
def signed_artifact(token: str, dag_id: str, run_id: str, path: str) -> Response:
    """An artifact of the one run folder the link was signed for, until it expires."""
    from perf_tasks.report.links import check_link_token

    why = check_link_token(link_secret(), token, dag_id, run_id, now_s=time.time())
    if why:
        raise HTTPException(status_code=403, detail=f"report link refused: {why}")
    return _serve(dag_id, run_id, path)


@app.get("/{dag_id}/", response_class=HTMLResponse, dependencies=[READ_RUNS])
def list_runs(dag_id: str) -> HTMLResponse:
    from perf_tasks.errors import PerfError
    from perf_tasks.store import run_index, safe_id

    _check_ids(dag_id)
    try:
        runs = run_index(_store(), dag_id)
    except (PerfError, ValueError, OSError) as exc:
        log.info("perf-reports: runs of %s not listed: %s", dag_id, exc)
        raise HTTPException(status_code=404, detail=f"{dag_id}: no runs in the artifact store") from None
    rows = "".join(f"<li><a href='{escape(safe_id(r['run_id']))}/'>{escape(r['run_id'])}</a> "
                   f"({escape(str(r.get('status')))}, {escape(str(r.get('finished_at')))})</li>" for r in runs)
    return HTMLResponse(f"<!doctype html><title>{escape(dag_id)} runs</title><h1>{escape(dag_id)}</h1><ul>{rows}</ul>")


@app.get("/{dag_id}/{run_id}", dependencies=[READ_RUNS])
def run_folder(dag_id: str, run_id: str) -> RedirectResponse:
    """``<run>`` without the slash: to ``<run>/``, so the report's relative links resolve in its folder."""
    _check_ids(dag_id, run_id)
    return RedirectResponse(f"{run_id}/", status_code=307)


@app.get("/{dag_id}/{run_id}/{path:path}", dependencies=[READ_RUNS])
def artifact(dag_id: str, run_id: str, path: str) -> Response:
    return _serve(dag_id, run_id, path)


@app.api_route("/{path:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
               dependencies=[Depends(get_user)], include_in_schema=False)
def not_found(path: str) -> Response:
    """Anything else: 401/403 without a login (as every path), 404 with one."""
    raise HTTPException(status_code=404, detail="not found")


class PerfReportsPlugin(AirflowPlugin):
    name = "perf_reports"
    fastapi_apps = [{"app": app, "url_prefix": REPORTS_ROUTE, "name": "perf reports"}]
    operator_extra_links = [ReportLink()]
