"""perf_load_weekly: the spec's load scenarios (§2.1) against the trading API.

setup_environment -> start_service -> run_shard[0..K-1] (mapped; on Celery they run on different
workers) -> merge_shards (exact: HDR histograms and counts add) -> validate -> evaluate ->
compare_to_baseline -> build_report -> persist_artifacts -> notify; stop_service always runs
after the shards. Wiring only.
"""
from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, CronTriggerTimetable, TriggerRule

from perf_operators import KindSetupOperator, KindTaskOperator
from perf_operators.params import kind_params, profile_param, run_params
from perf_operators.tail import shared_tail

from perf_tasks.kinds.options import LoadOptions  # light: pydantic models only

#: Scenarios offered in the trigger form; must match config/load_scenarios.yaml (a test checks it).
SCENARIOS = ["normal", "peak", "stress", "burst"]

with DAG(
    dag_id="perf_load_weekly",
    description="Load scenarios (normal, peak, stress, burst) against the trading HTTP API",
    # Sundays at 00:00 UTC, first at the next slot after unpausing (tests/dags/test_schedule.py). A past start_date
    # makes unpausing start a run of the latest past slot at once, with the default params;
    # run_immediately=False (the preset's) still does within 10 % of the period after a slot.
    schedule=CronTriggerTimetable("0 0 * * 0", timezone="UTC", run_immediately=timedelta(0)),
    catchup=False,
    max_active_runs=1,
    tags=["perf", "load"],
    doc_md=__doc__,
    params={
        "profile": profile_param("smoke: a functional check, ~10-15 s per scenario at <= 50 req/s and <= 200 "
                                 "users (no paging on a small box); standard: the spec's rates and users for "
                                 "~3 min each; full: as the spec says (8 h normal load)."),
        **kind_params(LoadOptions, choices={"scenarios": SCENARIOS}),  # perf_tasks.kinds.load.LoadOptions
        **run_params(),
    },
) as dag:
    setup = KindSetupOperator(task_id="setup_environment", kind="load")
    service = KindTaskOperator(task_id="start_service", kind="load", call="start_service_step")
    shards = (KindTaskOperator.partial(task_id="run_shard", kind="load", call="run_shard",
                                       map_index_template="shard task {{ task.item }}")
              .expand(item=setup.output))
    stop = KindTaskOperator(task_id="stop_service", kind="load", call="stop_service_step",
                            trigger_rule=TriggerRule.ALL_DONE)
    merge = KindTaskOperator(task_id="merge_shards", kind="load", call="merge_shards")

    first, notify = shared_tail()  # validate ... notify -> verdict, publish_site

    setup >> service >> shards >> merge >> first
    [service, shards] >> stop >> notify
