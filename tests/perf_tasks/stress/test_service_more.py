"""The failure scenarios' process helpers on real processes: SIGKILL of a whole process group,
reaping, and what counts as alive (a zombie child does not)."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from collections.abc import Iterator

import psutil
import pytest

from perf_tasks.stress.service import alive, kill9, reap
from perf_tasks.sut import ServiceHandle

PARENT_WITH_CHILD = ("import subprocess, sys, time; "
                     "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
                     "print(c.pid, flush=True); time.sleep(60)")


@pytest.fixture
def group() -> Iterator[tuple[subprocess.Popen, int]]:
    """A process in its own group with a child of its own (a master and a worker); yields both pids."""
    proc = subprocess.Popen([sys.executable, "-c", PARENT_WITH_CHILD], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    yield proc, child
    for pid in (child, proc.pid):
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            pass
    proc.wait(5)


def test_kill9_ends_the_whole_group_and_reaps_the_master(group):
    proc, child = group
    before = time.monotonic()
    t = kill9(ServiceHandle("http://127.0.0.1:1", proc.pid))
    assert before <= t <= time.monotonic()
    assert not alive(proc.pid) and not psutil.pid_exists(proc.pid)  # reaped: not even a zombie
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:  # the worker is re-parented, then reaped by init
        time.sleep(0.02)
    assert not alive(child)


def test_kill9_of_a_process_that_is_gone_returns_its_time_quietly():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(10)
    t0 = time.monotonic()
    assert t0 <= kill9(ServiceHandle("http://127.0.0.1:1", proc.pid)) <= time.monotonic()


def test_a_zombie_child_is_not_alive_and_reap_clears_it():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while psutil.Process(proc.pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
        time.sleep(0.02)
    assert psutil.pid_exists(proc.pid) and not alive(proc.pid)  # exited, not yet reaped
    reap(proc.pid)
    assert not psutil.pid_exists(proc.pid)


def test_alive_is_true_for_a_running_process_and_false_for_an_unused_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert alive(proc.pid)
    finally:
        proc.kill()
        proc.wait(5)
    assert not alive(proc.pid)


def test_reap_gives_up_after_its_timeout_on_a_child_that_keeps_running():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        t0 = time.monotonic()
        reap(proc.pid, timeout_s=0.2)
        assert 0.2 <= time.monotonic() - t0 < 2 and alive(proc.pid)
    finally:
        proc.kill()
        proc.wait(5)
    t0 = time.monotonic()
    reap(proc.pid, timeout_s=5)  # already reaped by wait(): not our child any more, returns at once
    assert time.monotonic() - t0 < 1


def test_running_starts_the_service_and_stops_every_handle_even_one_killed_on_purpose(tmp_path):
    import urllib.request

    from perf_tasks.stress.service import running

    db = str(tmp_path / "orders.db")
    from perf_tasks.system import load_system

    system = load_system(Path(__file__).resolve().parents[3] / "config")
    with running(tmp_path, db, system=system, ready_timeout_s=90) as handles:
        (first,) = handles
        with urllib.request.urlopen(first.url + "/health", timeout=5) as resp:
            assert resp.status == 200
        assert (tmp_path / "service.log").exists()
        kill9(first)  # a scenario's crash; the list still holds the dead handle
        extra = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
        handles.append(ServiceHandle("http://127.0.0.1:1", extra.pid))  # "the restarted one"
    assert not alive(first.pid) and extra.wait(5) is not None and not alive(extra.pid)
