"""The history site task: rebuilds a DAG's static site in the artifact store after the run is
sealed (perf_tasks.pipeline.publish_site). Best effort: it never fails a run."""
from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink, Context

from perf_operators.steps import PerfStepOperator, report_base


class HistorySiteLink(BaseOperatorLink):
    """"History site" button: the DAG's site over http (the API server's /perf-reports route)."""

    name = "History site"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from perf_tasks.report.site import SITE_DIR
        from perf_tasks.store import safe_id

        return f"{report_base().rstrip('/')}/{safe_id(ti_key.dag_id)}/{SITE_DIR}/index.html"


class PublishSiteOperator(PerfStepOperator):
    operator_extra_links = (HistorySiteLink(),)

    def execute(self, context: Context) -> dict[str, Any]:
        from perf_tasks import pipeline

        # the store is opened inside publish_site's best effort: after a failed setup there is no
        # run.json to read its URL from (spec_url would raise here)
        return {"site": pipeline.publish_site(self.work(context), self.store)}
