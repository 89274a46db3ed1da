"""Registers the "History site" operator extra link of the publish_site task (the API server's
UI resolves extra links only from plugins)."""
from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from perf_operators.site import HistorySiteLink


class PerfSitePlugin(AirflowPlugin):
    name = "perf_site"
    operator_extra_links = [HistorySiteLink()]
