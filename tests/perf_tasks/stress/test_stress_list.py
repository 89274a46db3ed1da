"""``stress --list``: every scenario in one line (name, kind, what it does, what it needs) in aligned
columns, read from each scenario's own docstring; listing imports no failure module."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from perf_tasks.kinds import stress as kind
from perf_tasks.stress import catalog
from perf_tasks import cli
from perf_tasks.stress.failures import FAILURES
from perf_tasks.stress.stressors import STRESSORS
from tests.conftest import REPO


def _lines(capsys) -> list[str]:
    assert cli.main(["stress", "--list"]) == 0
    return capsys.readouterr().out.splitlines()


def test_every_scenario_has_one_line_with_what_it_does_and_what_it_needs(capsys):
    lines = _lines(capsys)
    assert [line.split()[0] for line in lines] == list(kind.registry())
    for line, info in zip(lines, catalog.scenarios()):
        assert info.kind == ("stressor" if info.name in STRESSORS else "failure")
        assert len(info.what) >= 30 and info.needs, line
        assert line.endswith(f"needs: {info.needs}") and info.what in line
        assert not re.search(r"perf_tasks\.\w+\.\w+", line), f"a dotted path instead of a description: {line}"


def test_columns_are_aligned(capsys):
    lines, infos = _lines(capsys), catalog.scenarios()
    starts = {(line.index(f"  {i.kind} ") + 2, line.index(i.what), line.index("  needs: ") + 2)
              for line, i in zip(lines, infos)}
    assert len(starts) == 1, starts  # kind, what and needs start in the same column on every line


@pytest.mark.parametrize("name, needle", [
    ("recovery_postgres", "PostgreSQL"), ("db_outage", "PostgreSQL"), ("db_blackhole", "PostgreSQL"),
    ("failover", "HAProxy"), ("recovery_sqlite", "nothing else"), ("cpu_saturation", "a service to load"),
])
def test_what_a_scenario_needs_is_said(name, needle):
    assert needle in {i.name: i for i in catalog.scenarios()}[name].needs


def test_descriptions_come_from_the_scenarios_docstrings():
    stressor = catalog.describe("cpu_saturation", STRESSORS["cpu_saturation"], "stressor")
    assert STRESSORS["cpu_saturation"].__doc__.strip().startswith(stressor.what)
    failure = catalog.describe("failover", FAILURES["failover"], "failure")  # made from its registry entry
    assert FAILURES["failover"].__doc__.startswith(failure.what) and f"Needs: {failure.needs}" in FAILURES[
        "failover"].__doc__


def test_a_scenario_without_a_needs_line_is_a_bug_caught_by_the_catalog():
    def undocumented(ctx):
        """Does something."""

    with pytest.raises(ValueError, match="'Needs:' line"):
        catalog.describe("undocumented", undocumented, "failure")


def test_listing_imports_no_failure_module():
    code = ("import sys; from perf_tasks import cli; cli.main(['stress', '--list']); "
            "print(','.join(m for m in sys.modules if m.startswith(('perf_tasks.stress.recovery', "
            "'perf_tasks.stress.dbfault', 'perf_tasks.stress.soak', 'perf_tasks.scale.failover'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                         check=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}).stdout
    assert out.splitlines()[-1] == ""
