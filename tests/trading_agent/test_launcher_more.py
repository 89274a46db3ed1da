"""The service launcher's failures with the real service process: it exits before it is ready,
it fails to build its state, it is not ready in time; each error quotes the log and leaves no
process behind."""
from __future__ import annotations

import re
from pathlib import Path

import psutil
import pytest

from trading_agent.service.launcher import ServerStartError, start_server


def _log_of(message: str) -> Path:
    found = re.search(r"log (\S+?\.log):", message)
    assert found, message
    return Path(found.group(1))


def _service_children() -> list[psutil.Process]:
    out = []
    for c in psutil.Process().children(recursive=True):
        try:
            if "trading_agent.service" in " ".join(c.cmdline()) and c.status() != psutil.STATUS_ZOMBIE:
                out.append(c)
        except psutil.Error:
            continue
    return out


def test_a_server_that_exits_before_ready_quotes_its_log_and_keeps_it():
    with pytest.raises(ServerStartError, match=r"(?s)exited with code 2 before it was ready; log .*"
                                               r"unrecognized arguments: --no-such-flag") as err:
        start_server(["--no-such-flag"], ready_timeout_s=60)
    log = _log_of(str(err.value))
    try:
        assert "--no-such-flag" in log.read_text()  # a failure keeps its temporary log
    finally:
        log.unlink(missing_ok=True)


def test_a_server_that_fails_to_build_its_state_is_stopped_and_says_why(tmp_path: Path):
    missing = tmp_path / "no-such-checkpoint.pt"
    log = tmp_path / "service.log"
    with pytest.raises(ServerStartError, match=r"failed to build its state: .*no-such-checkpoint") as err:
        start_server(["--ticks", "2000", "--log-level", "warning", "--cnn-lstm", str(missing)], ready_timeout_s=60,
                     log_path=log)
    assert str(log) in str(err.value) and log.exists()  # the caller's log is never removed
    assert _service_children() == []


def test_a_server_not_ready_in_time_is_stopped(tmp_path: Path):
    log = tmp_path / "service.log"
    with pytest.raises(ServerStartError, match=r"not ready after 0.2 s \(last: "):
        start_server(["--log-level", "warning"], ready_timeout_s=0.2, log_path=log)
    assert log.exists() and _service_children() == []
