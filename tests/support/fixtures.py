"""Shared fixtures: moto's S3 server and a Slack webhook receiver, both on loopback."""
from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.servers import SlackReceiver, free_port


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3 API over real HTTP on 127.0.0.1; yields the endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_client(s3_server: str, monkeypatch: pytest.MonkeyPatch):
    import boto3
    from botocore.config import Config

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


@pytest.fixture
def bucket(s3_client) -> str:
    name = f"perf-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def slack_receiver() -> Iterator[SlackReceiver]:
    receiver = SlackReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def slack(slack_receiver: SlackReceiver) -> SlackReceiver:
    slack_receiver.reset()
    return slack_receiver
