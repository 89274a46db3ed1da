"""Instances of the system under test: input checks before anything starts, the cgroup v2 memory
limit (against a cgroup-shaped directory: this host has no writable cgroup v2), the process tree,
and a server that dies before it is ready (real known-capacity test servers on loopback)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import psutil
import pytest

from perf_tasks.errors import UserError
from perf_tasks.scale import instances
from perf_tasks.scale.instances import Instance, check_cpus, memory_limit_support, start_instances
from perf_tasks.sut import ServiceError

LIMIT = 256 * 2**20


def _cgroup_root(path: Path, controllers: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "cgroup.controllers").write_text(controllers + "\n")
    return path


@pytest.mark.parametrize("kwargs, needle", [
    ({"n": 0}, r"instances must be an integer >= 1, got 0"),
    ({"n": 1.5}, r"instances must be an integer >= 1, got 1\.5"),
    ({"n": 1, "kind": "docker"}, r"instance kind must be 'service' or 'testserver', got 'docker'"),
    ({"n": 2, "cpus": [(0,)]}, r"need one core set per instance \(2\), got 1"),
])
def test_start_instances_refuses_bad_input_before_starting_anything(tmp_path: Path, kwargs, needle):
    n = kwargs.pop("n")
    with pytest.raises(UserError, match=needle):
        start_instances(tmp_path, n, **kwargs)
    assert list(tmp_path.iterdir()) == []  # no instance directory, so nothing was started


def test_cores_this_process_may_not_use_are_refused_naming_them_and_the_available_ones(tmp_path: Path):
    have = sorted(os.sched_getaffinity(0))
    missing = max(have) + 1000
    expected = rf"cpus: cores \[{missing}\] are not available .*available: {re.escape(str(have))}"
    with pytest.raises(UserError, match=expected):
        check_cpus((have[0], missing), "cpus")
    with pytest.raises(UserError, match=str(missing)):
        start_instances(tmp_path, 1, kind="testserver", cpus=[(missing,)])
    check_cpus(tuple(have), "cpus")  # every available core is fine


def test_memory_limit_support_says_why_for_each_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    v1 = tmp_path / "v1"  # no cgroup.controllers: not v2
    v1.mkdir()
    no_mem = _cgroup_root(tmp_path / "nomem", "cpu io")
    empty = _cgroup_root(tmp_path / "empty", "")
    monkeypatch.setattr(instances, "CGROUP2_ROOTS", (str(v1), str(no_mem), str(empty)))
    root, why = memory_limit_support()
    assert root is None
    assert why.startswith("memory.max limits are not available here: ")
    assert f"{v1}: not a cgroup v2 hierarchy" in why
    assert f"{no_mem}: cgroup v2 without the memory controller (cpu io)" in why
    assert f"{empty}: cgroup v2 without the memory controller (none)" in why

    good = _cgroup_root(tmp_path / "good", "cpuset cpu io memory pids")
    monkeypatch.setattr(instances, "CGROUP2_ROOTS", (str(v1), str(good)))
    assert memory_limit_support() == (good, "")


def test_a_memory_limit_writes_memory_max_and_moves_the_instance_into_its_group(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch):
    root = _cgroup_root(tmp_path / "cgroup", "memory")
    monkeypatch.setattr(instances, "CGROUP2_ROOTS", (str(root),))
    with start_instances(tmp_path / "work", 1, kind="testserver", memory_limit_bytes=LIMIT,
                         capacity=(2, 5.0), ready_timeout_s=30) as s:
        inst = s.instances[0]
        assert inst.memory_limit_bytes == LIMIT and s.notes == []
        group = root / f"perf-scale-{os.getpid()}-0"
        assert (group / "memory.max").read_text() == str(LIMIT)
        assert (group / "cgroup.procs").read_text() == str(inst.pid)
        assert inst.to_dict() == {"index": 0, "url": f"http://127.0.0.1:{inst.port}", "port": inst.port,
                                  "pid": inst.pid, "cpus": (), "memory_limit_bytes": LIMIT,
                                  "log_path": str(tmp_path / "work" / "instance-0" / "testserver.log")}
        assert Instance(**inst.to_dict()) == inst
        assert s.process_tree()[0] == inst.pid and s.urls == [inst.url]
    assert not psutil.pid_exists(inst.pid) or psutil.Process(inst.pid).status() == psutil.STATUS_ZOMBIE
    assert s.process_tree() == []  # gone processes are skipped, not an error


def test_a_memory_limit_that_cannot_be_written_is_a_note_and_the_instance_runs_unlimited(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = _cgroup_root(tmp_path / "cgroup", "memory")
    (root / f"perf-scale-{os.getpid()}-0").write_text("a file where the group directory should go")
    monkeypatch.setattr(instances, "CGROUP2_ROOTS", (str(root),))
    with start_instances(tmp_path / "work", 1, kind="testserver", memory_limit_bytes=LIMIT,
                         capacity=(2, 5.0), ready_timeout_s=30) as s:
        assert s.instances[0].memory_limit_bytes is None
        assert len(s.notes) == 1 and s.notes[0].startswith("instance 0: memory.max not applied: ")


def test_a_server_that_dies_before_ready_is_an_error_quoting_its_log_and_nothing_is_left(tmp_path: Path):
    with pytest.raises(ServiceError, match=r"(?s)exited with code 1 before it was ready.*concurrency must be >= 1"):
        start_instances(tmp_path, 1, kind="testserver", capacity=(0, 20.0), ready_timeout_s=30)
    assert "concurrency must be >= 1 and service_ms > 0, got 0, 20.0" in (
        tmp_path / "instance-0" / "testserver.log").read_text()
    assert not [c for c in psutil.Process().children(recursive=True)
                if "perf_tasks.scale.testserver" in " ".join(c.cmdline())]  # reaped, not a zombie
