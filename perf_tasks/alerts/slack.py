"""Slack alerts: a pure function builds one Block Kit message per run; a thin sender posts it.

With no webhook configured, or when Slack keeps answering errors, the message goes to an outbox
file in the run's artifacts and to the log, so nothing is lost.
"""
from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from perf_tasks.errors import DeliveryError
from perf_tasks.fmt import format_value  # noqa: F401 - re-exported: callers import it from here
from perf_tasks.results import GENERATOR_SATURATED, Comparison, Evaluation, Violation

log = logging.getLogger(__name__)

#: a Slack webhook URL's secret path (``/services/T.../B.../<token>``) or a bot/user token
_SECRET = re.compile(r"(hooks\.slack\.com/services/|/services/)[A-Za-z0-9_/-]+|xox[abposr]-[A-Za-z0-9-]+")


def redact(text: str) -> str:
    """``text`` with Slack webhook paths and tokens replaced by ``***``."""
    return _SECRET.sub(lambda m: (m.group(1) or "") + "***", text)


class RedactSecrets(logging.Filter):
    """Rewrites records of the loggers it is attached to so no webhook URL or token is logged
    (slack-sdk logs the full webhook URL at DEBUG: ``Sending a request - url: ...``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


for _name in ("slack_sdk", "slack_sdk.webhook.client", "slack_sdk.web.base_client", "slack_sdk.webhook",
              "airflow.providers.slack.hooks.slack_webhook"):
    logging.getLogger(_name).addFilter(RedactSecrets())

#: Slack limits: 50 blocks per message, 3,000 characters per section text.
MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_LINES_PER_GROUP = 40

Sender = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class RunInfo:
    dag_id: str
    run_id: str
    profile: str
    report_url: str | None = None
    run_url: str | None = None  # the Airflow UI page of the run


def _interval(low: float | None, high: float | None) -> str:
    return f" [{low:.4g}, {high:.4g}]" if low is not None and high is not None else ""


def _short_range(rng: str | None) -> str:
    if not rng:
        return ""
    return "..".join(part[:12] for part in rng.split(".."))


def history_line(c: Any) -> str:
    """One Slack line for a history finding: the kind, the levels with their 95 % intervals, the
    runs it rests on, and the suspected commit range (last good .. first bad)."""
    if c.kind == "transient":
        return (f"• `{c.metric}` transient (came back, not a level change): {c.after:.4g} vs level {c.before:.4g} "
                f"({c.change_pct:+.1f} %) at run `{c.run}`")
    if c.kind == "noise":
        return (f"• `{c.metric}` noise changed: spread {c.before:.3g} % → {c.after:.3g} % from run `{c.run}` "
                "(comparisons of this metric need a new baseline)")
    runs = (f"; runs {c.runs_before} before / {c.runs_after} after" + (f", {c.runs_excluded} excursions left out"
                                                                      if c.runs_excluded else "")) if c.runs_after else ""
    rng = _short_range(getattr(c, "commit_range", None) or c.commit)
    return (f"• `{c.metric}` {c.kind}: {c.before:.4g}{_interval(c.before_low, c.before_high)} → "
            f"*{c.after:.4g}*{_interval(c.after_low, c.after_high)} ({c.change_pct:+.1f} %"
            + (f", p={c.pvalue:.2g}" if c.pvalue is not None else "") + f") from run `{c.run}`{runs}"
            + (f"; suspected commits `{rng}`" if rng else ""))


def _violation_line(v: Violation) -> str:
    return (f"• `{v.metric}` = *{format_value(v.value, v.unit)}* (threshold {v.op} "
            f"{format_value(v.threshold, v.unit)}) — {v.source}")


def _sections(title: str, lines: list[str]) -> list[dict[str, Any]]:
    """Section blocks holding ``lines`` under ``title``, split to respect the text limit."""
    if len(lines) > MAX_LINES_PER_GROUP:
        extra = len(lines) - MAX_LINES_PER_GROUP
        lines = lines[:MAX_LINES_PER_GROUP] + [f"… and {extra} more (see the report)"]
    blocks: list[dict[str, Any]] = []
    chunk = f"*{title}*"
    for line in lines:
        line = line if len(line) < MAX_SECTION_CHARS - 100 else line[: MAX_SECTION_CHARS - 101] + "…"
        if len(chunk) + 1 + len(line) > MAX_SECTION_CHARS:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
            chunk = line
        else:
            chunk += "\n" + line
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
    return blocks


def build_message(run: RunInfo, evaluation: Evaluation | None, comparison: Comparison | None = None,
                  failed_steps: dict[str, str] | None = None, *,
                  alert_on: str = "promoted", alert_min_processes: int = 5,
                  resolved: list[str] | None = None, ongoing: list[str] | None = None,
                  verdict: str | None = None) -> dict[str, Any] | None:
    """One message for the run, violations grouped by severity, or None when there is nothing
    to alert on. Per-run regressions count against a promoted baseline; against the previous run
    only with ``alert_on`` "any", or "processes" when both sides had >= ``alert_min_processes``
    worker processes. Returns ``{"text": fallback, "blocks": [...]}``.

    With alert dedup (perf_tasks.alerts.state) the caller passes only what to send now;
    ``resolved`` lines (alerts sent before that cleared) make a message on their own, ``ongoing``
    lines (open alerts not repeated) are only counted at the end of one. ``verdict``: the run's
    verdict (perf_tasks.verdict.judge_run on the whole run), first in the headline; by default the
    verdict of what is passed. Targets that would have been missed but could not be judged
    (INVALID) alert on their own, right after the critical ones, with the reason and the factor."""
    from perf_tasks.verdict import alerting_invalid, judge_run, regression_quiet_reason  # noqa: PLC0415
    resolved, ongoing = list(resolved or []), list(ongoing or [])
    failed_steps = failed_steps or {}
    violations = list(evaluation.violations) if evaluation else []
    critical = [v for v in violations if v.severity == "critical"]
    warning = [v for v in violations if v.severity == "warning"]
    def counts(c: Any) -> bool:  # the one rule (perf_tasks.verdict), as the dedup items use it
        return comparison is not None and not regression_quiet_reason(c, comparison, alert_on, alert_min_processes)

    regressions = [c for c in comparison.regressions if counts(c)] if comparison else []
    improvements = [c for c in comparison.improvements if counts(c)] if comparison else []
    level = [c for c in comparison.history_changes if c.new] if comparison else []
    level_regressions = [c for c in level if c.kind == "regression"]
    loud_invalid = alerting_invalid(evaluation)
    saturated = [v for v in loud_invalid if v.reason.startswith(GENERATOR_SATURATED)]
    would_miss = [v for v in loud_invalid if v not in saturated]
    if not (violations or regressions or level_regressions or failed_steps or loud_invalid or resolved):
        return None  # improvements alone are good news for the report, not an alert
    judged = judge_run(evaluation, comparison, failed_steps=failed_steps, alert_on=alert_on,
                       alert_min_processes=alert_min_processes)
    by_metric = {f.metric: f for f in judged.findings if f.kind == "would_miss"}

    parts = [verdict or judged.verdict]
    if failed_steps:
        parts.append("run FAILED")
    if critical:
        parts.append(f"{len(critical)} critical")
    if would_miss:
        parts.append(f"{len(would_miss)} would have missed (INVALID)")
    if warning:
        parts.append(f"{len(warning)} warning")
    n_reg = len(regressions) + len(level_regressions)
    if n_reg:
        parts.append(f"{n_reg} regression{'s' if n_reg > 1 else ''}")
    if saturated:
        parts.append(f"{len(saturated)} invalid: {GENERATOR_SATURATED}")
    if resolved:
        parts.append(f"{len(resolved)} resolved")
    headline = f"{run.dag_id}: {parts[0]}" + (f" — {', '.join(parts[1:])}" if parts[1:] else "")
    text = f"{headline} (run {run.run_id}, profile {run.profile})"

    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150]}},
        {"type": "context", "elements": [{"type": "mrkdwn",
                                          "text": f"run `{run.run_id}` · profile `{run.profile}`"}]},
    ]
    if failed_steps:
        blocks += _sections(":x: Failed steps", [f"• `{step}`: {err}" for step, err in failed_steps.items()])
    if critical:
        blocks += _sections(":rotating_light: Critical", [_violation_line(v) for v in critical])
    if would_miss:
        blocks += _sections(":grey_exclamation: Would have missed: INVALID, not judged (the measurement cannot "
                            "carry a verdict; rerun it as it says)",
                            [f"• `{v.metric}` = *{by_metric[v.metric].detail}* — {v.reason}" for v in would_miss])
    if warning:
        blocks += _sections(":warning: Warning", [_violation_line(v) for v in warning])
    rest = [v for v in (evaluation.invalid if evaluation else ()) if v not in would_miss]
    if rest:  # shown with any alert; alone they send one only when the load generator was saturated
        blocks += _sections(":grey_question: Invalid: not judged (the measurement cannot carry a verdict)",
                            [f"• `{v.metric}`: {v.reason}" for v in rest])
    history_link = f" (<{run.report_url}#history|history chart>)" if run.report_url and run.report_url.startswith("http") else ""
    if comparison is not None and (regressions or improvements):
        def line(c: Any) -> str:
            stat = f"p={c.pvalue:.2g}" if c.pvalue is not None else "no raw samples"
            ci = (f", ratio {round((c.ci_level or 0.95) * 100):g} % CI {c.ratio_ci_low:.3f}–{c.ratio_ci_high:.3f}"
                  if c.ratio_ci_low is not None else "")
            return (f"• `{c.metric}`: {format_value(c.baseline, c.unit)} → *{format_value(c.current, c.unit)}* "
                    f"({c.change_pct:+.1f} %, {stat}{ci})")
        title = f"{comparison.baseline_kind} baseline `{comparison.baseline_run_id}`"
        if regressions:
            blocks += _sections(f":chart_with_downwards_trend: Regressions vs {title} (threshold "
                                f"{comparison.threshold_pct:g} % and p < {comparison.alpha:g})", [line(c) for c in regressions])
        if improvements:
            blocks += _sections(f":chart_with_upwards_trend: Improvements vs {title}", [line(c) for c in improvements])
        if comparison.fingerprint_mismatch:
            blocks += _sections(":warning: Environment differs from the baseline's",
                                [f"• {d}" for d in comparison.fingerprint_mismatch])
    if level:
        blocks += _sections(f":mag: Level changes (and transients, noise) over the run history{history_link}",
                            [history_line(c) for c in level])
    if resolved:
        blocks += _sections(":white_check_mark: Resolved (alerted before, met this run)", [f"• {r}" for r in resolved])
    if ongoing:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": (
            f"{len(ongoing)} alert(s) still open, sent before and not repeated: "
            + ", ".join(ongoing[:10]) + (" …" if len(ongoing) > 10 else ""))[:MAX_SECTION_CHARS]}]})
    links = []
    if run.report_url:
        links.append(f"<{run.report_url}|Report>" if run.report_url.startswith("http") else f"Report: `{run.report_url}`")
    if run.run_url:
        links.append(f"<{run.run_url}|Airflow run>")
    if links:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]})
    if len(blocks) > MAX_BLOCKS:
        blocks = blocks[: MAX_BLOCKS - 1] + [{"type": "context", "elements": [
            {"type": "mrkdwn", "text": "message truncated: see the report"}]}]
    return {"text": text, "blocks": blocks}


@dataclass(frozen=True)
class Delivery:
    status: Literal["sent", "outbox", "nothing_to_send"]
    channel: str
    attempts: int
    errors: tuple[str, ...] = ()
    outbox_path: str | None = None


#: the longest Retry-After (seconds) of a 429 that delivery waits for; a longer one goes to the outbox now
MAX_RETRY_AFTER_S = 60.0
#: the status in the Airflow Slack webhook hook's error ("Response body: ..., Status Code: 400. See: ...")
_HOOK_STATUS = re.compile(r"Status Code: (\d{3})\b")


class SlackAnswerError(DeliveryError):
    """Slack answered an HTTP error: its ``status`` and, for a 429, its ``Retry-After`` in seconds."""

    def __init__(self, message: str, *, status: int, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


def _retry_after(headers: Any) -> float | None:
    value = next((v for k, v in dict(headers or {}).items() if k.lower() == "retry-after"), None)
    value = value[0] if isinstance(value, (list, tuple)) and value else value
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):  # an HTTP date: not worth parsing, the backoff applies
        return None


def retry_wait(exc: Exception, backoff_s: float) -> tuple[float | None, str]:
    """Seconds to wait before the next attempt after ``exc``, or None (with why) when another
    attempt cannot help: a 429 waits its Retry-After (up to :data:`MAX_RETRY_AFTER_S`), any other
    4xx is final (a bad payload or a revoked webhook stays so), a 5xx or a connection error waits
    ``backoff_s``. The status comes from :class:`SlackAnswerError`, else from the Airflow hook's
    error text."""
    if isinstance(exc, SlackAnswerError):
        status, after = exc.status, exc.retry_after_s
    else:
        match = _HOOK_STATUS.search(str(exc))
        status, after = (int(match.group(1)) if match else None), None
    if status == 429:
        if after is not None and after > MAX_RETRY_AFTER_S:
            return None, f"rate limited: Retry-After {after:g} s is longer than the {MAX_RETRY_AFTER_S:g} s it may wait"
        return (backoff_s if after is None else after), ""
    if status is not None and 400 <= status < 500:
        return None, f"Slack answered {status}: not retried (a client error stays one)"
    return backoff_s, ""


def webhook_sender(url: str, *, timeout_s: float = 10.0) -> Sender:
    """Post with slack-sdk's WebhookClient; any non-200 answer raises SlackAnswerError. The client
    has no retry handlers of its own: :func:`deliver` is the one retry layer."""
    from slack_sdk.webhook import WebhookClient

    client = WebhookClient(url, timeout=int(max(1, timeout_s)), retry_handlers=[])

    def send(message: dict[str, Any]) -> None:
        resp = client.send(text=message["text"], blocks=message.get("blocks"))
        if resp.status_code != 200:
            raise SlackAnswerError(f"Slack webhook answered {resp.status_code}: {resp.body!r}",
                                   status=resp.status_code, retry_after_s=_retry_after(resp.headers))

    return send


def write_outbox(message: dict[str, Any], outbox_dir: Path, reason: str, errors: tuple[str, ...] = ()) -> Path:
    outbox_dir.mkdir(parents=True, exist_ok=True)
    path = outbox_dir / "slack-message.json"
    path.write_text(json.dumps({"reason": reason, "errors": list(errors), "message": message}, indent=2))
    log.warning("Slack message not delivered (%s); written to %s:\n%s", reason, path, message["text"])
    return path


def deliver(message: dict[str, Any] | None, sender: Sender | None, outbox_dir: Path, *, channel: str,
            attempts: int = 3, backoff_s: float = 1.0,
            sleep: Callable[[float], None] = time.sleep) -> Delivery:
    """Send, retrying what may succeed later (:func:`retry_wait`: a 5xx or a lost connection with
    exponential backoff, a 429 after its Retry-After, never another 4xx), up to ``attempts`` in
    all; fall back to the outbox. Never raises for a delivery failure: the returned
    :class:`Delivery` records what happened."""
    if message is None:
        return Delivery("nothing_to_send", channel, 0)
    if sender is None:
        path = write_outbox(message, outbox_dir, f"no Slack connection configured ({channel})")
        return Delivery("outbox", channel, 0, (), str(path))
    errors: list[str] = []
    delay = backoff_s
    for attempt in range(1, attempts + 1):
        try:
            sender(message)
            log.info("Slack message sent via %s (attempt %d)", channel, attempt)
            return Delivery("sent", channel, attempt, tuple(errors))
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, then the outbox takes it
            errors.append(f"attempt {attempt}: {type(exc).__name__}: {exc}")
            log.warning("Slack delivery via %s failed (attempt %d/%d): %s", channel, attempt, attempts, exc)
            wait, why = retry_wait(exc, delay)
            if wait is None:
                path = write_outbox(message, outbox_dir, f"Slack delivery failed: {why}", tuple(errors))
                return Delivery("outbox", channel, attempt, tuple(errors), str(path))
            if attempt < attempts:
                sleep(wait)
                delay *= 2
    path = write_outbox(message, outbox_dir, f"Slack delivery failed after {attempts} attempts", tuple(errors))
    return Delivery("outbox", channel, attempts, tuple(errors), str(path))
