"""Thin Airflow operators over :mod:`perf_tasks.pipeline` (the shared steps) and the kinds
(:mod:`perf_tasks.kinds`): a DAG is KindSetupOperator -> KindTaskOperator(s) -> the shared tail."""
from perf_operators.steps import (BuildReportOperator, CompareBaselineOperator, EvaluateOperator, KindSetupOperator,
                                  KindTaskOperator, NotifyOperator, PersistArtifactsOperator, ValidateResultsOperator,
                                  VerdictOperator)

__all__ = ["BuildReportOperator", "CompareBaselineOperator", "EvaluateOperator", "KindSetupOperator",
           "KindTaskOperator", "NotifyOperator", "PersistArtifactsOperator", "ValidateResultsOperator",
           "VerdictOperator"]
