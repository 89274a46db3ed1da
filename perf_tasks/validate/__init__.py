"""Validation of the pipeline's own outputs with Great Expectations (imported lazily, inside
functions: importing this package stays cheap)."""
from __future__ import annotations

from perf_tasks.validate.results import ResultsValidation, results_frame, validate_results, validate_results_frame

__all__ = ["ResultsValidation", "results_frame", "validate_results", "validate_results_frame"]
