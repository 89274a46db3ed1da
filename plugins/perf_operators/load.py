"""Operators of the load pipeline (perf_tasks.load_pipeline); the later steps reuse the daily
pipeline's operators (validate, evaluate, compare, report, persist, notify)."""
from __future__ import annotations

from typing import Any

from airflow.sdk import Context

from perf_operators.steps import PerfStepOperator


class LoadSetupOperator(PerfStepOperator):
    """Validates params, scenarios, journeys, shards and the target allowlist before any request;
    returns the shard indexes to map ``run_shard`` over."""

    template_fields = (*PerfStepOperator.template_fields, "config_dir")

    def __init__(self, *, config_dir: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config_dir = config_dir

    def execute(self, context: Context) -> list[int]:
        from perf_tasks import load_pipeline, pipeline

        p = context["params"]
        spec = pipeline.RunSpec(
            dag_id=context["dag"].dag_id, run_id=context["run_id"], profile=p.get("profile", "smoke"),
            scenarios=tuple(p.get("scenarios") or ()), shards=int(p.get("shards", 1)),
            target_url=p.get("target_url") or "", service_workers=int(p.get("service_workers", 1)),
            shard_mode=p.get("shard_mode") or "auto", service_host=p.get("service_host") or "127.0.0.1",
            advertised_url=p.get("advertised_url") or "", allow=tuple(p.get("allow") or ()),
            notify=bool(p.get("notify", True)), promote_baseline=bool(p.get("promote_baseline", False)),
            artifacts_url=p.get("artifacts_url") or pipeline.default_artifacts_url(),
            config_dir=self.config_dir or str(pipeline.DEFAULT_CONFIG_DIR))
        work = self.work(context)
        if (work / "status").exists():
            pipeline.clean_work(work)
        from airflow.configuration import conf

        return load_pipeline.setup_environment(work, spec, executor=conf.get("core", "executor", fallback=""))


class StartServiceOperator(PerfStepOperator):
    def execute(self, context: Context) -> dict[str, Any]:
        from perf_tasks import load_pipeline

        handle = load_pipeline.start_service_step(self.work(context))
        return {"url": handle.url, "pid": handle.pid}


class RunShardOperator(PerfStepOperator):
    """One shard task of every selected scenario (map over setup's output with ``.expand``): in
    processes mode the only task, running the K shards as K processes that start together."""

    template_fields = (*PerfStepOperator.template_fields, "shard")

    def __init__(self, *, shard: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shard = shard

    def execute(self, context: Context) -> dict[str, Any]:
        from perf_tasks import load_pipeline, pipeline
        from perf_operators.steps import slack_sender

        work = self.work(context)
        sender, channel = None, ""
        if int(self.shard) == 0:  # task 0 watches the live window and may alert mid-run
            spec = pipeline.load_spec(work)
            if spec.notify:
                sender, channel = slack_sender(pipeline.run_config(spec).alerts.slack.conn_id)
        return {"shard": self.shard, "scenarios": load_pipeline.run_shard(work, int(self.shard), sender=sender,
                                                                          channel=channel)}


class MergeShardsOperator(PerfStepOperator):
    def execute(self, context: Context) -> dict[str, Any]:
        from perf_tasks import load_pipeline

        suite = load_pipeline.merge_shards(self.work(context))
        return {b.name: {"requests": b.calls, "errors": b.errors} for b in suite.benchmarks}


class StopServiceOperator(PerfStepOperator):
    def execute(self, context: Context) -> dict[str, Any]:
        from perf_tasks import load_pipeline

        return {"stopped": load_pipeline.stop_service_step(self.work(context))}
