from __future__ import annotations

import asyncio

import pytest

from perf_tasks.errors import UserError
from perf_tasks.load.engine import Engine
from perf_tasks.load.journey import JourneySpec, StepSpec
from devtools.loopback import LoopbackServer
from perf_tasks.load.plan import LoadPlan
from perf_tasks.load.safety import BadTargetError, TargetNotAllowedError, check_target, parse_target


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://localhost:1/api/", "https://[::1]:8443",
                                 "http://LOCALHOST"])
def test_loopback_targets_are_allowed_by_default(url):
    t = check_target(url)
    assert t.host in ("127.0.0.1", "localhost", "::1")


@pytest.mark.parametrize("url,host", [("http://example.com", "example.com"), ("http://10.0.0.5:80", "10.0.0.5"),
                                      ("http://127.0.0.2:9", "127.0.0.2"), ("http://0.0.0.0:80", "0.0.0.0")])
def test_refuses_non_loopback_target_naming_host_and_allowlist(url, host):
    with pytest.raises(TargetNotAllowedError) as err:
        check_target(url)
    assert repr(host) in str(err.value) and "['127.0.0.1', '::1', 'localhost']" in str(err.value)


def test_explicit_hosts_and_networks_can_be_allowed():
    assert check_target("http://10.1.2.3:80", ["10.1.0.0/16"]).host == "10.1.2.3"
    assert check_target("http://perf.internal", ["perf.internal"]).port == 80
    with pytest.raises(TargetNotAllowedError):
        check_target("http://10.2.0.1", ["10.1.0.0/16"])
    with pytest.raises(UserError, match="wildcards"):
        check_target("http://a.b", ["*"])


@pytest.mark.parametrize("url,needle", [("ftp://127.0.0.1", "http:// or https://"), ("127.0.0.1:80", "http://"),
                                        ("http://", "no host"), ("http://127.0.0.1:99999", "bad port"),
                                        ("http://127.0.0.1/?a=1", "without '?query'"),
                                        ("http://u:p@127.0.0.1", "credentials")])
def test_malformed_urls_are_refused_naming_the_url(url, needle):
    with pytest.raises(BadTargetError, match="target") as err:
        parse_target(url)
    assert needle in str(err.value)


def test_engine_refuses_before_the_first_request():
    # a real server on a loopback address that is not in the default allowlist: it must see nothing
    server = LoopbackServer(0, host="127.0.0.2").start()
    try:
        plan = LoadPlan(scenario="s", target_url=f"http://127.0.0.2:{server.port}",
                        journey_name="j", journey=JourneySpec(steps=[StepSpec(name="get", path="/")]),
                        duration_s=1.0, users=1, rate_per_s=10.0)
        with pytest.raises(TargetNotAllowedError, match="127.0.0.2"):
            asyncio.run(Engine(plan).run())
        assert server.requests == 0
    finally:
        server.stop()
