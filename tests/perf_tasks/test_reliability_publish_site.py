"""The DAGs' publish_site task (PublishSiteOperator -> pipeline.publish_site) is best effort, as
documented: after a failed setup (no run.json) or with a store it cannot open it logs and returns,
it never fails the task."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from perf_tasks import pipeline
from perf_tasks.errors import ConfigError
from perf_tasks.results import to_dict


def _failed_setup(root: Path) -> Path:
    work = pipeline.work_dir_for("perf_daily", "manual__r1", root)
    spec = pipeline.RunSpec(dag_id="perf_daily", run_id="manual__r1", profile="nosuchprofile")
    with pytest.raises(ConfigError):
        pipeline.setup_environment(work, spec)
    assert (work / "status" / "setup_environment.json").exists() and not (work / "run.json").exists()
    return work


@pytest.fixture
def warnings() -> list[str]:
    """Warnings of perf_tasks.pipeline (a handler on the logger itself: once Airflow has configured
    logging, caplog's root handler no longer sees them)."""
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    handler, logger = Keep(logging.WARNING), logging.getLogger("perf_tasks.pipeline")
    logger.addHandler(handler)
    yield seen
    logger.removeHandler(handler)


def _context(dag_id: str = "perf_daily", run_id: str = "manual__r1") -> dict:
    return {"dag": SimpleNamespace(dag_id=dag_id), "run_id": run_id}


def test_the_publish_site_task_after_a_failed_setup_logs_and_returns(tmp_path: Path, warnings: list[str]):
    from perf_operators.site import PublishSiteOperator

    root = tmp_path / "work"
    _failed_setup(root)
    op = PublishSiteOperator(task_id="publish_site", work_root=str(root))
    assert op.execute(_context()) == {"site": ""}
    assert any("history site of perf_daily not published" in w and "run.json" in w for w in warnings), warnings


def test_publish_site_after_a_failed_setup_returns_empty(tmp_path: Path, warnings: list[str]):
    work = _failed_setup(tmp_path / "work")
    assert pipeline.publish_site(work, _boom) == ""
    assert any("not published" in w for w in warnings), warnings


def _boom(url: str):
    raise AssertionError(f"no store should be opened for a run without a spec ({url})")


def test_a_store_that_cannot_be_opened_is_logged_not_raised(tmp_path: Path, warnings: list[str]):
    work = tmp_path / "work" / "perf_daily" / "r1"
    work.mkdir(parents=True)
    spec = pipeline.RunSpec(dag_id="perf_daily", run_id="r1", artifacts_url=(tmp_path / "store").as_uri())
    (work / "run.json").write_text(json.dumps(to_dict(spec)))

    def no_store(url: str):
        raise RuntimeError(f"connection aws_default is not defined ({url})")  # what a missing connection raises

    assert pipeline.publish_site(work, no_store) == ""
    assert any("connection aws_default is not defined" in w for w in warnings), warnings


