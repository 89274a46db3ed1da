"""The Airflow S3Hook gets the store's one retry layer without losing the connection's own config."""
from __future__ import annotations

import json

from perf_operators.steps import s3_hook_config


def test_the_hook_config_keeps_the_connections_config_kwargs_and_adds_standard_retries(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_PERF_TEST", json.dumps({
        "conn_type": "aws", "login": "k", "password": "s",
        "extra": {"endpoint_url": "http://127.0.0.1:9", "config_kwargs": {"s3": {"addressing_style": "path"},
                                                                        "read_timeout": 7}}}))
    cfg = s3_hook_config("aws_perf_test")
    assert cfg.s3 == {"addressing_style": "path"} and cfg.read_timeout == 7
    assert cfg.retries == {"mode": "standard", "total_max_attempts": 4}


def test_a_connection_that_sets_its_own_retries_keeps_them(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_PERF_TEST2", json.dumps({
        "conn_type": "aws", "extra": {"config_kwargs": {"retries": {"mode": "legacy", "max_attempts": 2}}}}))
    assert s3_hook_config("aws_perf_test2").retries == {"mode": "legacy", "max_attempts": 2}
