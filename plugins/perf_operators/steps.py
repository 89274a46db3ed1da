"""Operators for the perf pipelines. Each reads its arguments, calls one perf_tasks function and
returns a small dict (or list) for XCom. perf_tasks is imported inside ``execute`` so DAG files
parse fast. Connections: ``aws_conn_id`` (S3, via the amazon provider's S3Hook; set
``extra.endpoint_url`` for MinIO) and the Slack webhook connection named in ``config/alerts.yaml``.
"""
from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseOperator, BaseOperatorLink, Context, TriggerRule

log = logging.getLogger(__name__)


def _api_base() -> str:
    """``[api] base_url`` without its trailing ``/``; "" when unset: links are then root-relative
    (``/perf-reports/...``), so they work from whatever host name the browser used."""
    from airflow.configuration import conf

    return (conf.get("api", "base_url", fallback="") or "").rstrip("/")


def _run_url(context: Context) -> str:
    return f"{_api_base()}/dags/{context['dag'].dag_id}/runs/{quote(context['run_id'], safe='')}"


def _absolute(url: str) -> str | None:
    """``url`` when it is absolute (http/https), else None: Slack cannot open a root-relative link."""
    return url if url.startswith(("http://", "https://")) else None


#: the API server's route that serves stored reports (perf_reports_plugin.py)
REPORTS_ROUTE = "/perf-reports"


def report_base() -> str:
    """http base of report links: $PERF_REPORT_BASE_URL, else this Airflow's ``/perf-reports``
    (``[api] base_url`` + the route; root-relative ``/perf-reports`` when base_url is unset)."""
    import os

    return os.environ.get("PERF_REPORT_BASE_URL") or f"{_api_base()}{REPORTS_ROUTE}"


def link_secret() -> str:
    """The secret that signs report links for Slack (perf_tasks.report.links): $PERF_REPORTS_LINK_SECRET,
    else one derived from ``[api] secret_key`` (which every Airflow process of a deployment shares);
    "" when neither is set (no signed links)."""
    import hashlib
    import hmac
    import os

    from airflow.configuration import conf

    from perf_tasks.report.links import LINK_SECRET_ENV

    if secret := os.environ.get(LINK_SECRET_ENV, ""):
        return secret
    key = conf.get("api", "secret_key", fallback="") or ""
    return hmac.new(key.encode(), b"perf-reports-link-secret", hashlib.sha256).hexdigest() if key else ""


def slack_report_base(dag_id: str, run_id: str, *, expiry_h: float = 168.0) -> str | None:
    """The report base for links that leave Airflow (Slack): absolute, and signed for this run
    (``/perf-reports/~link/<token>``, valid ``expiry_h`` hours) when it is this Airflow's route and a
    link secret is set; None when there is no absolute base (the pipeline then links a presigned S3
    URL or the stored file's URI)."""
    import time

    from perf_tasks.report.links import signed_base

    base = _absolute(report_base())
    if base and base.rstrip("/").endswith(REPORTS_ROUTE) and (secret := link_secret()):
        return signed_base(base, secret, dag_id, run_id, now_s=time.time(), ttl_s=expiry_h * 3600)
    return base


def _link_expiry_h(work: Path) -> float:
    """alerts.yaml ``slack.report_link_expiry_h`` of the run (168 h when it cannot be read)."""
    from perf_tasks import pipeline

    try:
        return float(pipeline.run_config(pipeline.load_spec(work)).alerts.slack.report_link_expiry_h)
    except Exception:  # noqa: BLE001 - a broken config is reported by the steps that need it
        return 168.0


class ReportLink(BaseOperatorLink):
    """"Report" button on the run's tasks: the run's report on the /perf-reports route (``[api] base_url`` + route,
    else root-relative: the host the browser used). Slack gets the same route, absolute and signed."""

    name = "Report"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from perf_tasks.store import safe_id

        return f"{report_base().rstrip('/')}/{safe_id(ti_key.dag_id)}/{safe_id(ti_key.run_id)}/report.html"


def s3_hook_config(aws_conn_id: str) -> Any:
    """The S3Hook's botocore Config: the connection's own ``config_kwargs`` (an explicit hook config
    would replace them), plus the store's one retry layer (botocore's standard mode,
    perf_tasks.store.s3.client_config) unless the connection sets its own ``retries``."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from botocore.config import Config

    from perf_tasks.store.s3 import client_config

    base = S3Hook(aws_conn_id=aws_conn_id).config  # the connection's config_kwargs, or botocore's defaults
    if base.retries:
        return base
    return base.merge(Config(retries=client_config().retries))


class PerfStepOperator(BaseOperator):
    """Base: locates the run's work folder from the DAG id and Airflow's ``run_id``."""

    template_fields = ("work_root", "aws_conn_id")
    ui_color = "#e8f0fe"

    def __init__(self, *, work_root: str | None = None, aws_conn_id: str = "aws_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.work_root = work_root
        self.aws_conn_id = aws_conn_id

    def work(self, context: Context) -> Path:
        from perf_tasks import pipeline

        root = Path(self.work_root) if self.work_root else None
        return pipeline.work_dir_for(context["dag"].dag_id, context["run_id"], root)

    def store(self, url: str) -> Any:
        """The artifact store; for ``s3://`` the boto3 client comes from the S3Hook connection."""
        from perf_tasks.store import open_store

        client = None
        if url.startswith("s3://"):
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook

            client = S3Hook(aws_conn_id=self.aws_conn_id, config=s3_hook_config(self.aws_conn_id)).get_conn()
        return open_store(url, s3_client=client, source="artifacts URL")

    def spec_url(self, context: Context) -> str:
        from perf_tasks import pipeline

        return pipeline.load_spec(self.work(context)).artifacts_url


#: trigger params every kind shares (RunSpec fields); every other param is the kind's own option
COMMON_PARAMS = ("profile", "notify", "promote_baseline", "artifacts_url", "target_overrides")


class KindSetupOperator(PerfStepOperator):
    """The first task of every perf DAG: builds the run spec from the trigger params (the common
    ones, and every other param as an option of the DAG's kind), validates it all before anything
    is measured (``pipeline.setup_environment``: the kind's ``prepare``), takes the environment
    fingerprint. Returns the mapping input of the kind's measuring task (``tasks(spec)``: the
    suites of a daily run, the shard tasks of a load run, the scenarios of a stress run)."""

    template_fields = (*PerfStepOperator.template_fields, "config_dir")

    def __init__(self, *, kind: str, config_dir: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kind = kind
        self.config_dir = config_dir

    def execute(self, context: Context) -> list[Any]:
        from airflow.configuration import conf

        from perf_tasks import pipeline
        from perf_tasks.kinds import get_kind, kind_tasks

        p = dict(context["params"])
        options = {k: v for k, v in p.items() if k not in COMMON_PARAMS}
        spec = pipeline.RunSpec(
            dag_id=context["dag"].dag_id, run_id=context["run_id"], kind=self.kind,
            profile=p.get("profile") or "smoke", suites=tuple(options.pop("suites", None) or ()),
            notify=bool(p.get("notify", True)), target_overrides=dict(p.get("target_overrides") or {}),
            artifacts_url=p.get("artifacts_url") or pipeline.default_artifacts_url(),
            config_dir=self.config_dir or str(pipeline.default_config_dir()),
            promote_baseline=bool(p.get("promote_baseline", False)), options=options)
        work = self.work(context)
        if (work / "status").exists():  # a retry of setup starts the run afresh
            pipeline.clean_work(work, root=Path(self.work_root) if self.work_root else None)
        spec = pipeline.setup_environment(work, spec, executor=conf.get("core", "executor", fallback=""))
        return kind_tasks(get_kind(spec.kind), spec)


class KindTaskOperator(PerfStepOperator):
    """One measuring step of a kind: calls ``<kind module>.<call>(work[, item][, sender=, channel=])``
    (map it with ``.expand(item=setup.output)``). Step functions that take ``sender`` get the
    Slack sender of the run (for mid-run alerts) when the run notifies."""

    template_fields = (*PerfStepOperator.template_fields, "item")

    def __init__(self, *, kind: str, call: str, item: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kind = kind
        self.call = call
        self.item = item

    def execute(self, context: Context) -> Any:
        import inspect

        from perf_tasks import pipeline
        from perf_tasks.kinds import get_kind

        fn = getattr(get_kind(self.kind), self.call)
        work = self.work(context)
        params = inspect.signature(fn).parameters
        kwargs: dict[str, Any] = {}
        if "sender" in params:
            spec = pipeline.load_spec(work)
            sender, channel = (slack_sender(pipeline.run_config(spec).alerts.slack.conn_id) if spec.notify
                               else (None, ""))
            kwargs.update(sender=sender, channel=channel)
        out = fn(work, self.item, **kwargs) if self.item is not None else fn(work, **kwargs)
        return xcom_summary(out)


def xcom_summary(out: Any) -> Any:
    """A small JSON value for XCom: a suite's benchmarks and errors; a handle's fields; else as is."""
    if hasattr(out, "benchmarks") and hasattr(out, "suite"):
        return {"suite": out.suite, "benchmarks": len(out.benchmarks),
                "errors": [b.key for b in out.benchmarks if getattr(b, "error", None)]}
    if hasattr(out, "__dataclass_fields__"):
        import dataclasses
        return {k: v for k, v in dataclasses.asdict(out).items() if isinstance(v, (str, int, float, bool, type(None)))}
    return out


class ValidateResultsOperator(PerfStepOperator):
    """Great Expectations checks of the run's own results; fails (no verdict) on bad data."""

    def execute(self, context: Context) -> dict[str, Any]:
        from perf_tasks import pipeline

        return pipeline.validate_results_step(self.work(context))


class EvaluateOperator(PerfStepOperator):
    def execute(self, context: Context) -> dict[str, Any]:
        from perf_tasks import pipeline

        ev = pipeline.evaluate_run(self.work(context))
        return {"targets": len(ev.verdicts), "missed": sum(v.status in ("warning", "critical") for v in ev.verdicts),
                "invalid": len(ev.invalid),
                "alerts": len(ev.violations), "critical": len(ev.critical)}


class CompareBaselineOperator(PerfStepOperator):
    def execute(self, context: Context) -> dict[str, Any]:
        from perf_tasks import pipeline

        work = self.work(context)
        cmp = pipeline.compare_to_baseline(work, self.store(self.spec_url(context)))
        return {"baseline_run_id": cmp.baseline_run_id, "regressions": len(cmp.regressions),
                "improvements": len(cmp.improvements), "note": cmp.note[:500]}


class BuildReportOperator(PerfStepOperator):
    operator_extra_links = (ReportLink(),)

    def execute(self, context: Context) -> dict[str, Any]:
        from perf_tasks import pipeline

        work = self.work(context)
        path = pipeline.build_report(work, run_url=_run_url(context), report_base=report_base())
        return {"local_report": str(path), "report_url": pipeline.report_url(pipeline.load_spec(work))}


class PersistArtifactsOperator(PerfStepOperator):
    def execute(self, context: Context) -> dict[str, Any]:
        from perf_tasks import pipeline

        work = self.work(context)
        url = self.spec_url(context)
        entries = pipeline.persist_artifacts(work, self.store(url))
        return {"artifacts_url": url, "files": len(entries), "bytes": sum(e.size_bytes for e in entries)}


class NotifyOperator(PerfStepOperator):
    """Runs whatever happened upstream (trigger rule all_done): sends the run's one Slack message
    (or writes it to the outbox), seals the run in the store, and fails the DAG run afterwards
    if an upstream step failed, so a failed run also alerts."""

    operator_extra_links = (ReportLink(),)

    template_fields = (*PerfStepOperator.template_fields, "slack_conn_id")

    def __init__(self, *, slack_conn_id: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", TriggerRule.ALL_DONE)
        super().__init__(**kwargs)
        self.slack_conn_id = slack_conn_id

    @cached_property
    def _default_conn_id(self) -> str:
        from perf_tasks import pipeline

        try:
            return pipeline.load_config(pipeline.default_config_dir()).alerts.slack.conn_id
        except Exception:  # noqa: BLE001 - a broken config is reported by setup; alert anyway
            return "slack_default"

    def sender(self, conn_id: str) -> tuple[Any, str]:
        return slack_sender(conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        from perf_tasks import pipeline

        work = self.work(context)
        conn_id = self.slack_conn_id
        if conn_id is None and (work / "run.json").exists():
            try:
                conn_id = pipeline.run_config(pipeline.load_spec(work)).alerts.slack.conn_id
            except Exception:  # noqa: BLE001
                conn_id = None
        sender, channel = self.sender(conn_id or self._default_conn_id)
        url = self.spec_url(context) if (work / "run.json").exists() else pipeline.default_artifacts_url()
        # Slack is read outside Airflow: absolute links only, the report's signed for this run
        outcome = pipeline.notify(work, self.store(url), sender, channel=channel, run_url=_absolute(_run_url(context)),
                                  report_base=slack_report_base(context["dag"].dag_id, context["run_id"],
                                                                expiry_h=_link_expiry_h(work)))
        return {"delivery": outcome.delivery.status, "channel": outcome.delivery.channel,
                "manifest": outcome.sealed_at}


def slack_sender(conn_id: str) -> tuple[Any, str]:
    """(send function, channel description) for an Airflow Slack webhook connection; (None, why)
    when the connection does not exist (messages then go to the outbox)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None, f"outbox (no Airflow connection {conn_id!r})"
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    hook = SlackWebhookHook(slack_webhook_conn_id=conn_id, timeout=10)

    def send(message: dict[str, Any]) -> None:
        hook.send(text=message["text"], blocks=message.get("blocks"))

    return send, f"Airflow connection {conn_id!r}"


class VerdictOperator(PerfStepOperator):
    """The DAG's last task: logs the verdict line and the worst violations, sets the run's note
    (through the REST API, when an ``airflow_api`` HTTP connection holds the API server's URL
    and a user), and fails on a critical violation when alerts.yaml ``run_state.fail_on`` is
    "critical" (the default), so the run's state carries the verdict. Runs after notify whatever
    happened (trigger rule all_done): the report, the store and Slack are already done."""

    ui_color = "#fde8e8"
    operator_extra_links = (ReportLink(),)

    def __init__(self, *, api_conn_id: str = "airflow_api", **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", TriggerRule.ALL_DONE)
        super().__init__(**kwargs)
        self.api_conn_id = api_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from perf_tasks import pipeline

        verdict = pipeline.run_verdict(self.work(context), report_base=report_base())
        for line in verdict.lines:
            log.info("%s", line)
        if verdict.report:
            log.info("report: %s", verdict.report)
        noted = set_run_note(self.api_conn_id, context["dag"].dag_id, context["run_id"], verdict.note)
        if verdict.fails_run:
            raise AirflowFailException(f"run verdict {verdict.verdict}: {verdict.lines[0]} (alerts.yaml "
                                       "run_state.fail_on decides whether a critical violation fails the run)")
        return {"verdict": verdict.verdict, "line": verdict.lines[0], "report": verdict.report, "note_set": noted}


def set_run_note(conn_id: str, dag_id: str, run_id: str, note: str) -> bool:
    """PATCH the run's note through Airflow's REST API v2 (token from ``/auth/token`` with the
    connection's login and password). Best effort: False (logged) when there is no such
    connection or the API refuses; a note is a convenience, never a reason to fail the run."""
    import json
    import urllib.error
    import urllib.request

    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        log.info("run note not set: no Airflow connection %r (an http connection to the API server with a user)",
                 conn_id)
        return False
    scheme = conn.conn_type if conn.conn_type in ("http", "https") else "http"
    base = conn.host if "://" in (conn.host or "") else f"{scheme}://{conn.host}:{conn.port or 8080}"

    def call(method: str, path: str, body: dict[str, Any], token: str = "") -> dict[str, Any]:
        req = urllib.request.Request(base.rstrip("/") + path, data=json.dumps(body).encode(), method=method,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"{}")

    try:
        token = call("POST", "/auth/token", {"username": conn.login, "password": conn.password})["access_token"]
        call("PATCH", f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}", {"note": note},
             token)
    except (urllib.error.URLError, OSError, KeyError, ValueError) as exc:
        log.warning("run note not set via %s: %s", base, exc)
        return False
    log.info("run note set via %s", base)
    return True
