"""Airflow plugin: stored run reports over http, and the "Report" extra link.

The API server mounts a small FastAPI app at ``/perf-reports``: ``GET /perf-reports/<dag>/<run>/<file>``
serves a run's artifact (its ``report.html`` above all) from the deployment's artifact store
(``$PERF_ARTIFACTS_URL``: a local folder or S3, read with the same store code the pipeline
writes with), so a report is one click away from the run page and from Slack, also when the store
is a local folder that a browser on an http page cannot open. ``GET /perf-reports/<dag>/`` lists
the stored runs, newest first. Read-only; keys are checked to stay inside the store.
"""
from __future__ import annotations

import mimetypes

from airflow.plugins_manager import AirflowPlugin
from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, Response

from perf_operators.steps import REPORTS_ROUTE, ReportLink

app = FastAPI(title="perf reports", description="Stored performance-run reports (read-only)")


def _store():
    from perf_tasks.pipeline import default_artifacts_url
    from perf_tasks.store import open_store

    return open_store(default_artifacts_url(), source="$PERF_ARTIFACTS_URL")


@app.get("/{dag_id}/", response_class=HTMLResponse)
def list_runs(dag_id: str) -> HTMLResponse:
    from html import escape

    from perf_tasks.errors import PerfError
    from perf_tasks.store import run_index, safe_id

    try:
        runs = run_index(_store(), dag_id)
    except (PerfError, ValueError) as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    rows = "".join(f"<li><a href='{escape(safe_id(r['run_id']))}/report.html'>{escape(r['run_id'])}</a> "
                   f"({escape(str(r.get('status')))}, {escape(str(r.get('finished_at')))})</li>" for r in runs)
    return HTMLResponse(f"<!doctype html><title>{escape(dag_id)} runs</title><h1>{escape(dag_id)}</h1><ul>{rows}</ul>")


@app.get("/{dag_id}/{run_id}/{path:path}")
def artifact(dag_id: str, run_id: str, path: str) -> Response:
    from perf_tasks.errors import PerfError
    from perf_tasks.store import RunArtifacts

    try:
        run = RunArtifacts(_store(), dag_id, run_id)
        data = run.store.get_bytes(run.key(path or "report.html"))
    except (PerfError, ValueError, OSError) as exc:
        raise HTTPException(status_code=404, detail=f"{dag_id}/{run_id}/{path}: not in the artifact store ({exc})") from None
    media = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return Response(content=data, media_type=media)


class PerfReportsPlugin(AirflowPlugin):
    name = "perf_reports"
    fastapi_apps = [{"app": app, "url_prefix": REPORTS_ROUTE, "name": "perf reports"}]
    operator_extra_links = [ReportLink()]
