"""The shared tail is declared once (perf_tasks.tail.TAIL) and its three consumers derive from it:
the DAGs' tail tasks, the kinds registry's expected steps, and the CLI's run."""
from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

import pytest

from perf_tasks import cli, pipeline
from perf_tasks.kinds import TAIL_STEPS, all_steps, get_kind
from perf_tasks.tail import NOTIFY, TAIL


def test_the_dag_tail_is_the_table_task_for_task():
    from airflow.sdk import DAG

    from perf_operators.tail import OPERATORS, shared_tail

    with DAG("tail_probe", schedule=None) as dag:
        first, notify = shared_tail()
    assert [t.task_id for t in dag.tasks] == [s.name for s in TAIL]
    assert (first.task_id, notify.task_id) == (TAIL[0].name, NOTIFY)
    previous = None
    for s in TAIL:
        task = dag.get_task(s.name)
        assert task.trigger_rule == s.trigger_rule, s.name
        assert task.upstream_task_ids == ({s.after} if s.after else ({previous} if previous else set())), s.name
        previous = s.name if not s.after else previous
    assert set(OPERATORS) == {s.name for s in TAIL}


@pytest.mark.parametrize("step", TAIL, ids=lambda s: s.name)
def test_each_tail_operator_calls_the_pipeline_function_the_table_names(step):
    from perf_operators.tail import OPERATORS

    assert callable(getattr(pipeline, step.function)), step.function
    source = textwrap.dedent(inspect.getsource(OPERATORS[step.name].execute))
    called = {node.func.attr for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call)
              and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
              and node.func.value.id == "pipeline"}
    assert step.function in called, (step.name, sorted(called))


def test_the_registry_expects_the_tables_steps_before_notify():
    assert TAIL_STEPS == tuple(s.name for s in TAIL[:[s.name for s in TAIL].index(NOTIFY)])
    assert all_steps(get_kind("daily"), ("run_benchmarks.risk",)) == ("setup_environment", "run_benchmarks.risk",
                                                                      *TAIL_STEPS)


def test_the_cli_runs_the_table_in_order_verdict_and_publish_site_included(tmp_path: Path, monkeypatch):
    called: list[str] = []

    class Kind:
        DAG_ID = "perf_tail_probe"

        @staticmethod
        def measure(work, **_kw):
            called.append("measure")

    def recorder(name):
        def fn(work, *args, **kwargs):
            called.append(name)
            if name == "run_verdict":
                return pipeline.RunVerdict("PASS", ("verdict: PASS",), False, "")
            return None
        return fn

    monkeypatch.setattr(cli, "get_kind", lambda *a, **k: Kind)
    monkeypatch.setattr(pipeline, "setup_environment", lambda work, spec, **k: called.append("setup") or spec)
    for s in TAIL:
        monkeypatch.setattr(pipeline, s.function, recorder(s.function))
    monkeypatch.setenv("PERF_WORK_DIR", str(tmp_path / "work"))
    cli.run_kind(cli.RunRequest(kind="daily", artifacts=(tmp_path / "store").as_uri(), notify=False))
    assert called == ["setup", "measure", *(s.function for s in TAIL)]
