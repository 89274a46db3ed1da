"""perf_tasks: the performance-validation engine (plain Python, never imports Airflow).

Airflow operators in ``plugins/perf_operators`` and the CLI (``python -m perf_tasks``) are thin
shells over :mod:`perf_tasks.pipeline`.
"""
from __future__ import annotations

__version__ = "0.1.0"
