"""The steps every perf DAG ends with, wired from the one table (:data:`perf_tasks.tail.TAIL`):
validate -> evaluate -> compare_to_baseline -> build_report -> persist_artifacts -> notify (all_done)
-> verdict, and publish_site after notify. Each step's operator calls the pipeline function the
table names for it (a test checks)."""
from __future__ import annotations

from typing import Any

from airflow.sdk import TriggerRule

from perf_operators.site import PublishSiteOperator
from perf_operators.steps import (BuildReportOperator, CompareBaselineOperator, EvaluateOperator, NotifyOperator,
                                  PersistArtifactsOperator, ValidateResultsOperator, VerdictOperator)
from perf_tasks.tail import NOTIFY, TAIL

#: tail step name -> its operator
OPERATORS: dict[str, type] = {
    "validate": ValidateResultsOperator,
    "evaluate": EvaluateOperator,
    "compare_to_baseline": CompareBaselineOperator,
    "build_report": BuildReportOperator,
    "persist_artifacts": PersistArtifactsOperator,
    "notify": NotifyOperator,
    "verdict": VerdictOperator,
    "publish_site": PublishSiteOperator,
}


def shared_tail() -> tuple[Any, Any]:
    """Create the shared tail in the current DAG; returns (its first task, notify), so a DAG wires
    ``<last measuring task> >> first`` and its teardown ``>> notify``."""
    tasks: dict[str, Any] = {}
    previous = None
    for s in TAIL:
        task = OPERATORS[s.name](task_id=s.name, trigger_rule=TriggerRule(s.trigger_rule))
        upstream = tasks[s.after] if s.after else previous
        if upstream is not None:
            upstream >> task
        if not s.after:
            previous = task
        tasks[s.name] = task
    return tasks[TAIL[0].name], tasks[NOTIFY]
