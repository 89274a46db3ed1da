"""The deployment's load-test allowlist (loopback + config/safety.yaml + $PERF_LOAD_ALLOWLIST) and
the rule that a run's own list (a trigger param, --allow) may only narrow it."""
from __future__ import annotations

import pytest

from perf_tasks.errors import ConfigError, UserError
from perf_tasks.load.safety import (
    DEFAULT_ALLOWLIST,
    ENV_VAR,
    AllowlistWidenedError,
    TargetNotAllowedError,
    check_target,
    deployment_allowlist,
    narrow,
    run_allowlist,
)
from tests.conftest import REPO


def _config(tmp_path, text: str):
    (tmp_path / "safety.yaml").write_text(text)
    return tmp_path


def test_the_shipped_config_allows_loopback_only():
    deployed = deployment_allowlist(REPO / "config", {})
    assert deployed.entries == DEFAULT_ALLOWLIST
    assert "safety.yaml: allowlist" in deployed.source and f"${ENV_VAR} (unset)" in deployed.source


def test_a_missing_config_file_means_loopback_only(tmp_path):
    deployed = deployment_allowlist(tmp_path, {})
    assert deployed.entries == DEFAULT_ALLOWLIST and "(absent)" in deployed.source


def test_config_and_environment_both_widen_the_deployment_list(tmp_path):
    cfg = _config(tmp_path, "schema_version: 1\nallowlist: [perf-target.internal, 10.20.0.0/16]\n")
    deployed = deployment_allowlist(cfg, {ENV_VAR: " 192.168.7.9 , ,fd00::/8,"})
    assert deployed.entries == (*DEFAULT_ALLOWLIST, "perf-target.internal", "10.20.0.0/16", "192.168.7.9", "fd00::/8")
    assert str(cfg / "safety.yaml") in deployed.source and "192.168.7.9" in deployed.source


def test_an_empty_request_gets_the_deployment_list():
    deployed = deployment_allowlist(None, {ENV_VAR: "10.0.0.0/8"})
    assert narrow(deployed, [], source="param 'allow'") == deployed.entries


@pytest.mark.parametrize("requested", [["10.1.2.3"], ["10.1.0.0/16"], ["10.0.0.0/8"], ["perf-target.internal"],
                                       ["PERF-TARGET.internal."], ["127.0.0.1"], ["localhost"]])
def test_a_request_inside_the_deployment_list_narrows_it(requested):
    deployed = deployment_allowlist(None, {ENV_VAR: "10.0.0.0/8,perf-target.internal"})
    allowed = narrow(deployed, requested, source="param 'allow'")
    assert allowed == tuple(dict.fromkeys((*DEFAULT_ALLOWLIST, *requested)))
    if requested == ["10.1.2.3"]:  # narrowed: the rest of 10/8 is no longer allowed
        check_target("http://10.1.2.3:8000", allowed)
        with pytest.raises(TargetNotAllowedError, match="10.1.2.4"):
            check_target("http://10.1.2.4:8000", allowed)


@pytest.mark.parametrize("requested, bad", [
    (["192.168.1.3"], "192.168.1.3"),                # an IP outside every listed network
    (["10.0.0.0/7"], "10.0.0.0/7"),                  # a network wider than the listed one
    (["10.0.0.5", "example.com"], "example.com"),    # one bad entry among good ones
    (["perf-target"], "perf-target"),                # a name is inside only when listed by name
    (["::/1"], "::/1"),                              # another address family
])
def test_a_request_that_widens_is_refused_naming_the_entry_and_the_lists_origin(requested, bad):
    deployed = deployment_allowlist(REPO / "config", {ENV_VAR: "10.0.0.0/8,perf-target.internal"})
    with pytest.raises(AllowlistWidenedError) as err:
        narrow(deployed, requested, source="param 'allow'")
    msg = str(err.value)
    assert msg.startswith(f"param 'allow': {bad!r} is outside the deployment's load-test allowlist")
    assert "safety.yaml: allowlist" in msg and f"${ENV_VAR} ('10.0.0.0/8,perf-target.internal')" in msg
    assert "may only narrow" in msg and "Nothing was sent" in msg
    assert isinstance(err.value, UserError)


def test_with_nothing_deployed_any_non_loopback_request_is_refused():
    with pytest.raises(AllowlistWidenedError,
                       match=r"--allow: '127.0.0.2' is outside .*\$PERF_LOAD_ALLOWLIST \(unset\)"):
        run_allowlist(REPO / "config", ["127.0.0.2"], source="--allow", environ={})


def test_a_refused_target_says_the_deployment_must_list_it():
    with pytest.raises(TargetNotAllowedError) as err:
        check_target("http://example.com:8080", DEFAULT_ALLOWLIST, source="param 'target_url'")
    assert "config/safety.yaml" in str(err.value) and ENV_VAR in str(err.value)
    assert "--allow example.com" not in str(err.value)  # the old hint: --allow no longer widens


@pytest.mark.parametrize("text, needle", [
    ("schema_version: 1\nallowlist: [10.0.0.1, '10.0.0.0/33']\n", "safety.yaml: allowlist[1]: '10.0.0.0/33'"),
    ("schema_version: 1\nallowlist: ['*.corp']\n", "safety.yaml: allowlist[0]: '*.corp': wildcards"),
    ("schema_version: 1\nallowlist: [0.0.0.0/0]\n", "allowlist[0]: '0.0.0.0/0'"),
    ("schema_version: 1\nallowlist: [42]\n", "allowlist[0]: empty or non-string entry 42"),
    ("schema_version: 1\nallowlist: 10.0.0.1\n", "safety.yaml: allowlist: expected a list"),
    ("schema_version: 2\nallowlist: []\n", "safety.yaml: schema_version: expected 1, got 2"),
    ("schema_version: 1\nallow: []\n", "safety.yaml: unknown key(s) ['allow']"),
    ("- 10.0.0.1\n", "safety.yaml: expected a mapping"),
])
def test_a_bad_config_names_the_file_and_key_path(tmp_path, text, needle):
    with pytest.raises(ConfigError) as err:
        deployment_allowlist(_config(tmp_path, text), {})
    assert needle in str(err.value) and str(tmp_path) in str(err.value)


def test_a_bad_environment_entry_names_the_variable():
    with pytest.raises(UserError, match=r"\$PERF_LOAD_ALLOWLIST: '\*': wildcards"):
        deployment_allowlist(None, {ENV_VAR: "10.0.0.1,*"})
