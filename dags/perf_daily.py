"""perf_daily: the daily benchmark pipeline (spec §1.3 targets, §7.1 alert rules).

setup_environment -> run_benchmarks (mapped over suites) -> validate (Great Expectations on the
results) -> evaluate -> compare_to_baseline
-> build_report -> persist_artifacts -> notify (always runs; fails the run after alerting when
an upstream step failed) -> verdict (logs the verdict, sets the run note, fails the run on a
critical violation: alerts.yaml run_state). Wiring only: no config parsing or heavy imports here.
"""
from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, CronTriggerTimetable, Param

from perf_operators import KindSetupOperator, KindTaskOperator
from perf_operators.params import kind_params, profile_param, run_params

from perf_tasks.kinds.options import DailyOptions  # light: pydantic models only
from perf_operators.tail import shared_tail

#: Suites offered in the trigger form; must match config/benchmarks.yaml (a test checks it).
SUITES = ["risk", "market_data", "trading", "trading_postgres", "models", "data"]
#: Run when the form is left alone (config marks the others `default: false`).
DEFAULT_SUITES = ["risk", "market_data", "trading", "models", "data"]

with DAG(
    dag_id="perf_daily",
    description="Daily benchmarks of the trading system against the spec targets",
    # daily at 00:00 UTC, first at the next slot after unpausing (tests/dags/test_schedule.py). A past start_date
    # makes unpausing start a run of the latest past slot at once, with the default params;
    # run_immediately=False (the preset's) still does within 10 % of the period after a slot.
    schedule=CronTriggerTimetable("0 0 * * *", timezone="UTC", run_immediately=timedelta(0)),
    catchup=False,
    max_active_runs=1,
    tags=["perf", "benchmarks"],
    doc_md=__doc__,
    params={
        "profile": profile_param("Scales worker processes, observations, durations and sizes; never the targets."),
        "suites": Param(DEFAULT_SUITES, type="array", items={"type": "string", "enum": SUITES}, examples=SUITES,
                        description="Benchmark suites to run (all by default)."),
        "target_overrides": Param(None, type=["null", "object"],
                                  description='Override targets for this run: {"suite.benchmark.metric": number}.'),
        **kind_params(DailyOptions),  # none today (perf_tasks.kinds.options)
        **run_params(),
    },
) as dag:
    setup = KindSetupOperator(task_id="setup_environment", kind="daily")
    # one suite at a time: suites running side by side on one host slow each other down (measured
    # under LocalExecutor: Monte Carlo VaR 3x, CNN+LSTM p95 50x slower when two suites overlapped)
    bench = (KindTaskOperator.partial(task_id="run_benchmarks", kind="daily", call="run_suite",
                                      max_active_tis_per_dagrun=1,
                                      map_index_template="{{ task.item }}")  # the UI names each by suite
             .expand(item=setup.output))

    first, _notify = shared_tail()  # validate ... notify -> verdict, publish_site
    setup >> bench >> first
