"""The steps every perf DAG ends with, wired once: validate -> evaluate -> compare_to_baseline ->
build_report -> persist_artifacts -> notify (all_done) -> verdict, and publish_site after notify."""
from __future__ import annotations

from typing import Any

from airflow.sdk import TriggerRule

from perf_operators.site import PublishSiteOperator
from perf_operators.steps import (BuildReportOperator, CompareBaselineOperator, EvaluateOperator, NotifyOperator,
                                  PersistArtifactsOperator, ValidateResultsOperator, VerdictOperator)


def shared_tail() -> tuple[Any, Any]:
    """Create the shared tail in the current DAG; returns (its first task, notify), so a DAG wires
    ``<last measuring task> >> first`` and its teardown ``>> notify``."""
    validate = ValidateResultsOperator(task_id="validate")
    evaluate = EvaluateOperator(task_id="evaluate")
    compare = CompareBaselineOperator(task_id="compare_to_baseline")
    report = BuildReportOperator(task_id="build_report")
    persist = PersistArtifactsOperator(task_id="persist_artifacts")
    notify = NotifyOperator(task_id="notify", trigger_rule=TriggerRule.ALL_DONE)
    verdict = VerdictOperator(task_id="verdict")  # fails the run on a critical violation (alerts.yaml run_state)
    # the DAG's history site in the store (<dag>/_site/index.html), rebuilt with this run; best effort
    site = PublishSiteOperator(task_id="publish_site", trigger_rule=TriggerRule.ALL_DONE)
    validate >> evaluate >> compare >> report >> persist >> notify
    notify >> verdict
    notify >> site
    return validate, notify
