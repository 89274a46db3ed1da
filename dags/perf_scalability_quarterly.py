"""perf_scalability_quarterly: scalability testing and the capacity model (spec §4).

setup_environment -> run_size[<axis>_<N>] (mapped over the sizes: 1..N instances behind HAProxy,
one service on 1..k cores; one size at a time, they share the box) -> fit_model (scaling factors,
efficiency, cost per transaction, the Universal Scalability Law fit and its predictions, or the
reason it refuses) -> validate -> evaluate -> compare_to_baseline -> build_report ->
persist_artifacts -> notify; teardown (ends anything a size left running) always runs after the
sweeps. Wiring only: perf_tasks.kinds.scale does the work.
"""
from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, CronTriggerTimetable, TriggerRule

from perf_operators import KindSetupOperator, KindTaskOperator
from perf_operators.params import kind_params, profile_param, run_params
from perf_operators.tail import shared_tail

from perf_tasks.kinds.options import ScaleOptions  # light: pydantic models only

with DAG(
    dag_id="perf_scalability_quarterly",
    description="Scalability sweep (instances behind HAProxy, cores) and the USL capacity model",
    # 00:00 UTC on the first day of each quarter, first at the next slot after unpausing
    schedule=CronTriggerTimetable("0 0 1 1,4,7,10 *", timezone="UTC", run_immediately=timedelta(0)),
    catchup=False,
    max_active_runs=1,
    tags=["perf", "scalability"],
    doc_md=__doc__,
    params={
        "profile": profile_param("smoke: 1 and 2 instances, a few 2-s points up to 8x 50/s (a functional check, "
                                 "~35 s; the service's knee is usually beyond it, and the run says so); standard: "
                                 "1 and 2 instances and 1 and 2 cores, 8 s points (what a 2-core box can "
                                 "measure); full: up to 10 instances and 8 cores, 60 s points (a big box)."),
        **kind_params(ScaleOptions),  # perf_tasks.kinds.options.ScaleOptions
        **run_params(),
    },
) as dag:
    setup = KindSetupOperator(task_id="setup_environment", kind="scale")
    sizes = (KindTaskOperator.partial(task_id="run_size", kind="scale", call="run_size",
                                      map_index_template="{{ task.item }}", max_active_tis_per_dagrun=1)
             .expand(item=setup.output))
    fit = KindTaskOperator(task_id="fit_model", kind="scale", call="fit_model", trigger_rule=TriggerRule.ALL_DONE)
    teardown = KindTaskOperator(task_id="teardown", kind="scale", call="teardown", trigger_rule=TriggerRule.ALL_DONE)

    first, notify = shared_tail()  # validate ... notify -> verdict, publish_site

    setup >> sizes >> fit >> first
    sizes >> teardown >> notify
