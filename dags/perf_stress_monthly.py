"""perf_stress_monthly: stress, failure and recovery scenarios (spec §3) against the trading API.

setup_environment -> run_scenario[name] (mapped over the selected scenarios, one at a time: two
stressors on one box would measure each other) -> collect_stress -> validate -> evaluate ->
compare_to_baseline -> build_report -> persist_artifacts -> notify -> verdict (and publish_site); teardown (ends any
process a scenario left, removes stressor temp dirs) always runs after the scenarios. Each scenario
starts and stops its own service, stressor and proxy in its own ``finally``. Wiring only.
"""
from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, CronTriggerTimetable, TriggerRule

from perf_operators import KindSetupOperator, KindTaskOperator
from perf_operators.params import kind_params, profile_param, run_params
from perf_operators.tail import shared_tail

from perf_tasks.kinds.options import StressOptions  # light: pydantic models only
from perf_tasks.stress.failures import FAILURES  # light: names only, the scenarios import when they run

#: Scenarios offered in the trigger form: the resource stressors (must match perf_tasks.stress.stressors.STRESSORS,
#: a test checks it; that module is not imported here: it pulls in the load engine) and every failure.
STRESSORS = ["cpu_saturation", "memory_pressure", "disk_io", "net_latency", "net_bandwidth", "net_resets",
             "net_blackhole"]
SCENARIOS = STRESSORS + list(FAILURES)
with DAG(
    dag_id="perf_stress_monthly",
    description="Stress, failure and recovery scenarios: degradation under CPU/memory/disk/network stress, "
                "failures and recovery",
    # The 1st of every month at 02:00 UTC, first at the next slot after unpausing (no catch-up, no run of a
    # past slot on unpausing: run_immediately=0, as the other perf DAGs).
    schedule=CronTriggerTimetable("0 2 1 * *", timezone="UTC", run_immediately=timedelta(0)),
    catchup=False,
    max_active_runs=1,
    tags=["perf", "stress"],
    doc_md=__doc__,
    params={
        "profile": profile_param("smoke: ~25 s per stressor (two 10 s load windows at 25 req/s), a functional "
                                 "check; standard: 60 s windows at 50 req/s; full: 5 min windows at 100 req/s."),
        **kind_params(StressOptions, choices={"scenarios": SCENARIOS}),  # perf_tasks.kinds.options
        **run_params(),
    },
) as dag:
    setup = KindSetupOperator(task_id="setup_environment", kind="stress")
    scenarios = (KindTaskOperator.partial(task_id="run_scenario", kind="stress", call="run_scenario",
                                          map_index_template="{{ task.item }}", max_active_tis_per_dag=1)
                 .expand(item=setup.output))
    collect = KindTaskOperator(task_id="collect_stress", kind="stress", call="collect_stress")
    teardown = KindTaskOperator(task_id="teardown", kind="stress", call="teardown", trigger_rule=TriggerRule.ALL_DONE)

    first, notify = shared_tail()  # validate ... notify -> verdict, publish_site

    setup >> scenarios >> collect >> first
    scenarios >> teardown >> notify
