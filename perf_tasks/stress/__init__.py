"""Stress, failure and recovery testing (spec §3); see perf_tasks.stress.base for the scenario contract."""
