"""Thin Airflow operators over :mod:`perf_tasks.pipeline` (one operator per pipeline step)."""
from perf_operators.steps import (BuildReportOperator, CompareBaselineOperator, EvaluateOperator, NotifyOperator,
                                  PersistArtifactsOperator, RunSuiteOperator, SetupEnvironmentOperator,
                                  ValidateResultsOperator, VerdictOperator)

__all__ = ["BuildReportOperator", "CompareBaselineOperator", "EvaluateOperator", "NotifyOperator",
           "PersistArtifactsOperator", "RunSuiteOperator", "SetupEnvironmentOperator",
           "ValidateResultsOperator", "VerdictOperator"]
