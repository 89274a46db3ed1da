"""The shared tail every run ends with, declared once: step name, the :mod:`perf_tasks.pipeline`
function that runs it, its Airflow trigger rule and the step it follows.

Three consumers derive from :data:`TAIL`: the DAGs' tail (``plugins/perf_operators/tail.py``:
one task per step, ids, trigger rules and edges from here), the kinds registry's expected steps
(:data:`perf_tasks.kinds.TAIL_STEPS`: the steps before notify, which notify checks ran) and the
CLI's run (``perf_tasks/cli.py``: the same functions, in this order, in one process). Pure data:
functions are named, not imported, so the registry (a low layer) can read the table.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TailStep:
    name: str  # the task id, and status/<name>.json in the run's work folder
    function: str  # the perf_tasks.pipeline function the DAG task and the CLI call
    trigger_rule: str = "all_success"  # Airflow's: "all_done" runs whatever happened upstream
    after: str = ""  # the step it follows; "" = the table's previous step (the first: the kind's last step)
    checked: bool = True  # runs before notify, which fails the run when it did not succeed

    def __post_init__(self) -> None:
        if self.trigger_rule not in ("all_success", "all_done"):
            raise ValueError(f"tail step {self.name}: trigger rule {self.trigger_rule!r}")


NOTIFY = "notify"

#: the shared tail, in order
TAIL: tuple[TailStep, ...] = (
    TailStep("validate", "validate_results_step"),
    TailStep("evaluate", "evaluate_run"),
    TailStep("compare_to_baseline", "compare_to_baseline"),
    TailStep("build_report", "build_report"),
    TailStep("persist_artifacts", "persist_artifacts"),
    # the run's one alert and its seal in the store, whatever happened before (a failed run alerts too)
    TailStep(NOTIFY, "notify", "all_done", checked=False),
    # fails the run on a critical violation (alerts.yaml run_state.fail_on)
    TailStep("verdict", "run_verdict", "all_done", after=NOTIFY, checked=False),
    # the DAG's history site in the store (<dag>/_site/index.html), rebuilt with this run; best effort
    TailStep("publish_site", "publish_site", "all_done", after=NOTIFY, checked=False),
)

#: the tail's steps that notify checks (the run's expected steps end with them)
CHECKED_STEPS: tuple[str, ...] = tuple(s.name for s in TAIL if s.checked)
