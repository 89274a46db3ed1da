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

from airflow.sdk import DAG, CronTriggerTimetable, Param, TriggerRule

from perf_operators import KindSetupOperator, KindTaskOperator
from perf_operators.params import profile_param, run_params
from perf_operators.tail import shared_tail

from perf_tasks.load.safety import ALLOW_PARAM_HELP  # light: a string

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
        "axes": Param(None, type=["null", "array"], items={"type": "string", "enum": ["instances", "cores"]},
                      description="Axes to sweep; empty: the profile's (config/scalability.yaml)."),
        "instances": Param(None, type=["null", "array"], items={"type": "integer", "minimum": 1},
                           description="Instance counts, e.g. [1, 2, 4]; empty: the profile's."),
        "cores": Param(None, type=["null", "array"], items={"type": "integer", "minimum": 1},
                       description="Core counts for the vertical axis (at most this host's); empty: the profile's."),
        "sut": Param(None, type=["null", "string"], enum=[None, "service", "testserver", "urls"],
                     description="What to scale: the bundled service, the known-capacity test server "
                                 "(calibration), or running instances at 'urls'; empty: config's."),
        "urls": Param(None, type=["null", "array"], items={"type": "string"},
                      description="sut=urls: base URLs (round robin by a local HAProxy), e.g. a Kubernetes "
                                  "Service; every host must be in the allowlist."),
        "allow": Param(None, type=["null", "array"], items={"type": "string"},
                       description="Hosts or CIDR networks urls/replicas_url may name besides loopback. "
                                   + ALLOW_PARAM_HELP),
        "replicas_url": Param(None, type=["null", "string"],
                              description="A URL answering the replica count (JSON number, {replicas: n}, a "
                                          "Kubernetes scale object or a Prometheus query), read at every point."),
        "base_rate_per_s": Param(None, type=["null", "number"], exclusiveMinimum=0,
                                 description="Open-model rate per unit of size at 1x; empty: the profile's."),
        "multipliers": Param(None, type=["null", "array"], items={"type": "number", "exclusiveMinimum": 0},
                             description="Multiples of the base rate, e.g. [1, 2, ..., 10]; empty: the profile's."),
        "point_duration_s": Param(None, type=["null", "number"], exclusiveMinimum=0,
                                  description="Seconds per load point; empty: the profile's."),
        "p99_ms": Param(None, type=["null", "number"], exclusiveMinimum=0,
                        description="The knee's latency target (p99 of every arrival); empty: config's."),
        "error_rate_pct": Param(None, type=["null", "number"], exclusiveMinimum=0,
                                description="The knee's error-rate target; empty: config's."),
        "cost_per_core_hour": Param(None, type=["null", "number"], minimum=0,
                                    description="USD per core-hour for cost per transaction; empty: config's."),
        "memory_limit_mb": Param(None, type=["null", "integer"], minimum=0,
                                 description="cgroup v2 memory.max per instance where writable (else the "
                                             "result says why not); empty/0: none."),
        "generator_shards": Param(None, type=["null", "integer"], minimum=1, maximum=64,
                                  description="Load processes per point (high rates need several; a saturated "
                                              "generator's point is invalid and says how many); empty: config's."),
        "balancer": Param(None, type=["null", "string"], enum=[None, "auto", "haproxy", "multiworker"],
                          description="auto: HAProxy when installed, else the service's multi-worker mode."),
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
