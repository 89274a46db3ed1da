"""Alerts without noise: which of a run's alerts to send, kept as state in the artifact store.

An *alert item* is one thing a run alerts on that can stay true from run to run: a violation
(``violation:<metric>``), a per-run regression (``regression:<metric>``), or a target the load
generator left unjudged (``invalid:<metric>``). The store keeps, per DAG and profile, the items
that were sent and are still open (``<dag>/_alerts/<profile>.json``). At each run
:func:`decide` sends an item when it is new, when it got worse than when it was last sent
(severity up, or the value worse by ``worsen_pct`` % of the last sent value; a regression's change
by ``worsen_pct`` points), or when ``repeat_after_h`` hours passed since it was last sent; other
open items are only counted ("still open"). An open item this run judged cleanly (the metric was
measured and met its target or rule, or compared without a regression) is *resolved*: it is
named once in a message and leaves the state. An item the run could not judge (the metric is
missing or invalid, the step failed) stays open, silently.

Level changes over history already alert once (the detector reports only new ones) and failed
steps always alert: a failed run is news every time.

:func:`decide` is pure (time comes in as an argument); :func:`load_state` / :func:`save_state` do
the store I/O. The state is written only after a message was delivered, so an alert that went to
the outbox is sent again next time. Two runs of the same DAG and profile finishing at the same
moment may both send an item (last writer wins): duplicates, never a lost alert.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from perf_tasks.errors import StoreError
from perf_tasks.results import Comparison, Evaluation, MetricChange
from perf_tasks.store import ArtifactStore, safe_id
from perf_tasks.verdict import alerting_invalid, regression_quiet_reason

log = logging.getLogger(__name__)

STATE_SCHEMA_VERSION = 1  # 1: open items by key
_RANK = {"invalid": 0, "warning": 1, "regression": 1, "critical": 2}


@dataclass(frozen=True)
class AlertItem:
    """One open alert of this run. ``value``: the measured value (violation, invalid) or the
    change in % (regression); ``op`` the bound broken (``<=``: higher is worse)."""

    key: str
    kind: str  # violation | regression | invalid
    metric: str
    severity: str  # critical | warning (violation), regression, invalid
    value: float
    unit: str = ""
    op: str = "<="


@dataclass(frozen=True)
class OpenAlert:
    """An item as stored: what was last *sent* (to judge worsening) and when it was last seen."""

    key: str
    kind: str
    metric: str
    severity: str
    value: float
    unit: str
    op: str
    first_sent_at: str
    last_sent_at: str
    last_sent_run: str
    last_seen_run: str
    times_sent: int = 1

    def line(self) -> str:
        what = {"violation": f"{self.severity}", "regression": "regression", "invalid": "not judged"}[self.kind]
        value = f"{self.value:+.1f} %" if self.kind == "regression" else f"{self.value:.4g} {self.unit}".strip()
        return f"`{self.metric}` ({what}, last sent {value} at run `{self.last_sent_run}`)"


@dataclass(frozen=True)
class AlertDecision:
    send: tuple[AlertItem, ...]  # new, worse or due again
    why: dict[str, str]  # key of a sent item -> "new", "worse: ...", "still open after N h"
    ongoing: tuple[OpenAlert, ...]  # open, already sent, not repeated this run
    resolved: tuple[OpenAlert, ...]  # open before, judged clean this run
    state: dict[str, Any] = field(default_factory=dict)  # to save once the message is delivered

    @property
    def send_keys(self) -> set[str]:
        return {i.key for i in self.send}


def alerting_regressions(comparison: Comparison | None, *, alert_on: str = "promoted",
                         alert_min_processes: int = 5) -> list[MetricChange]:
    """Per-run regressions that alert: every one against a promoted baseline; against the previous
    run only with ``alert_on`` "any", or "processes" when both sides had >= ``alert_min_processes``
    worker processes."""
    if comparison is None:
        return []
    return [c for c in comparison.regressions
            if not regression_quiet_reason(c, comparison, alert_on, alert_min_processes)]


def violation_key(v: Any) -> str:
    """``violation:<metric>``, with ``|rule <name>`` for a rule's (a metric may break its target
    and a business rule at once: two alerts)."""
    return f"violation:{v.metric}" + ("" if v.source.startswith("target") else f"|{v.source}")


def alert_items(evaluation: Evaluation | None, comparison: Comparison | None, *, alert_on: str = "promoted",
                alert_min_processes: int = 5) -> list[AlertItem]:
    """The run's alert items (see the module docstring)."""
    items: list[AlertItem] = []
    for v in evaluation.violations if evaluation else ():
        items.append(AlertItem(violation_key(v), "violation", v.metric, v.severity, v.value, v.unit, v.op))
    for c in alerting_regressions(comparison, alert_on=alert_on, alert_min_processes=alert_min_processes):
        items.append(AlertItem(f"regression:{c.metric}", "regression", c.metric, "regression", c.change_pct, "%"))
    for v in alerting_invalid(evaluation):  # a saturated generator, a target that would have been missed
        items.append(AlertItem(f"invalid:{v.metric}", "invalid", v.metric, "invalid", v.value, v.unit, v.op))
    return items


def judged_keys(evaluation: Evaluation | None, comparison: Comparison | None,
                measured: Iterable[str] = ()) -> set[str]:
    """Keys this run judged cleanly: an open item among them that is not alerting now is resolved.
    ``measured``: every metric name the run produced (rule-judged metrics have no verdict)."""
    out: set[str] = set()
    if evaluation is not None:
        invalid = {v.metric for v in evaluation.invalid}
        out |= {f"violation:{m}" for m in measured if m not in invalid}
        for v in evaluation.verdicts:
            if v.status != "invalid":
                out |= {f"violation:{v.metric}", f"invalid:{v.metric}"}
    if comparison is not None:
        out |= {f"regression:{c.metric}" for c in comparison.changes if c.status in ("unchanged", "improvement")}
    return out


def _hours(since: str, now: datetime) -> float:
    try:
        return (now - datetime.fromisoformat(since)).total_seconds() / 3600
    except (TypeError, ValueError):
        return float("inf")  # an unreadable time: treat as due


def worsened(prev: OpenAlert, item: AlertItem, worsen_pct: float) -> str:
    """Why ``item`` is worse than when ``prev`` was sent, or "" (pure)."""
    if _RANK.get(item.severity, 0) > _RANK.get(prev.severity, 0):
        return f"worse: {prev.severity} -> {item.severity}"
    if item.kind == "regression":
        if abs(item.value) >= abs(prev.value) + worsen_pct and abs(item.value) > abs(prev.value):
            return f"worse: {prev.value:+.1f} % -> {item.value:+.1f} %"
        return ""
    step = abs(prev.value) * worsen_pct / 100
    higher_is_worse = item.op in ("<=", "<")
    if (item.value > prev.value + step) if higher_is_worse else (item.value < prev.value - step):
        return f"worse: {prev.value:.4g} -> {item.value:.4g} {item.unit}".rstrip()
    return ""


def decide(state: dict[str, Any], items: Iterable[AlertItem], judged: set[str], *, now: datetime, run_id: str,
           repeat_after_h: float, worsen_pct: float) -> AlertDecision:
    """Which items to send now, which are still open, which resolved; and the state afterwards."""
    open_before = {k: OpenAlert(**v) for k, v in (state.get("open") or {}).items()}
    stamp = now.isoformat()
    send, why, ongoing = [], {}, []
    after: dict[str, OpenAlert] = {}
    seen = set()
    for item in items:
        if item.key in seen:
            continue
        seen.add(item.key)
        prev = open_before.get(item.key)
        reason = "new" if prev is None else worsened(prev, item, worsen_pct)
        if not reason and prev is not None:
            age = _hours(prev.last_sent_at, now)
            if repeat_after_h <= 0 or age >= repeat_after_h:
                reason = f"still open after {age:.0f} h" if age != float("inf") else "still open"
        if reason:
            send.append(item)
            why[item.key] = reason
            after[item.key] = OpenAlert(item.key, item.kind, item.metric, item.severity, item.value, item.unit,
                                        item.op, prev.first_sent_at if prev else stamp, stamp, run_id, run_id,
                                        (prev.times_sent if prev else 0) + 1)
        else:
            assert prev is not None
            ongoing.append(prev)
            after[item.key] = dataclasses.replace(prev, last_seen_run=run_id)
    resolved = []
    for key, prev in open_before.items():
        if key in seen:
            continue
        if key.split("|", 1)[0] in judged:
            resolved.append(prev)
        else:
            after[key] = prev  # not judged this run: still open, silently
    new_state = {"schema_version": STATE_SCHEMA_VERSION, "updated_at": stamp, "updated_by_run": run_id,
                 "open": {k: dataclasses.asdict(v) for k, v in sorted(after.items())}}
    return AlertDecision(tuple(send), why, tuple(ongoing), tuple(resolved), new_state)


def filter_for_message(evaluation: Evaluation | None, comparison: Comparison | None,
                       decision: AlertDecision) -> tuple[Evaluation | None, Comparison | None]:
    """The evaluation and comparison with only the items to send now (the message builder then
    words them as usual); everything else stays in the report."""
    keys = decision.send_keys
    alerting = set(alerting_invalid(evaluation))
    if evaluation is not None:
        evaluation = dataclasses.replace(
            evaluation,
            violations=tuple(v for v in evaluation.violations if violation_key(v) in keys),
            verdicts=tuple(v for v in evaluation.verdicts if not (
                v in alerting and f"invalid:{v.metric}" not in keys)))
    if comparison is not None:
        comparison = dataclasses.replace(comparison, changes=tuple(
            c for c in comparison.changes if c.status != "regression" or f"regression:{c.metric}" in keys))
    return evaluation, comparison


# --- store I/O -------------------------------------------------------------------------------

def state_key(dag_id: str, profile: str, system: str = "") -> str:
    """Per DAG, system and profile: two systems never share alert state. ``system`` "" (a run with
    no systems.yaml) keeps the key alert state had before systems existed."""
    profile_part = f"{safe_id(profile or 'default', what='profile')}.json"
    if system:
        return f"{safe_id(dag_id, what='DAG id')}/_alerts/{safe_id(system, what='system')}/{profile_part}"
    return f"{safe_id(dag_id, what='DAG id')}/_alerts/{profile_part}"


def load_state(store: ArtifactStore, dag_id: str, profile: str, system: str = "") -> dict[str, Any] | None:
    """The stored state ({} when none yet), or None when the store cannot be read (then every
    alert is sent: a duplicate is better than a lost alert)."""
    key = state_key(dag_id, profile, system)
    try:
        if not store.exists(key):
            return {}
        doc = json.loads(store.get_bytes(key))
    except (StoreError, OSError) as exc:
        log.warning("alert state %s unreadable (%s): every alert of this run is sent", store.uri(key), exc)
        return None
    except ValueError as exc:
        log.warning("alert state %s is not valid JSON (%s): starting afresh", store.uri(key), exc)
        return {}
    if not isinstance(doc, dict) or doc.get("schema_version") != STATE_SCHEMA_VERSION:
        log.warning("alert state %s has schema_version %r (reads %d): starting afresh", store.uri(key),
                    doc.get("schema_version") if isinstance(doc, dict) else None, STATE_SCHEMA_VERSION)
        return {}
    try:
        for v in (doc.get("open") or {}).values():
            OpenAlert(**v)
    except TypeError as exc:
        log.warning("alert state %s has a malformed entry (%s): starting afresh", store.uri(key), exc)
        return {}
    return doc


def save_state(store: ArtifactStore, dag_id: str, profile: str, state: dict[str, Any], system: str = "") -> str:
    """Write the state; returns its URI. A store failure is logged, not raised (the next run
    sends its alerts again)."""
    key = state_key(dag_id, profile, system)
    try:
        store.put_bytes(key, json.dumps(state, indent=2).encode())
    except (StoreError, OSError) as exc:
        log.warning("alert state not saved to %s (%s): the next run sends its alerts again", store.uri(key), exc)
        return ""
    return store.uri(key)


# --- the run's message -------------------------------------------------------------------------

@dataclass(frozen=True)
class PlannedAlert:
    """The message to send for a run (None: nothing) and the dedup decision behind it (None when
    the state could not be read: then everything is sent and nothing is recorded)."""

    message: dict[str, Any] | None
    decision: AlertDecision | None
    dag_id: str
    profile: str
    system: str = ""  # the state's key (state_key)


def plan_message(run: Any, store: ArtifactStore | None, evaluation: Evaluation | None,
                 comparison: Comparison | None, failed_steps: dict[str, str] | None, *, now: datetime,
                 measured: Iterable[str] = (), repeat_after_h: float = 24.0, worsen_pct: float = 10.0,
                 resolved: bool = True, alert_on: str = "promoted", alert_min_processes: int = 5,
                 verdict: str | None = None, system: str = "") -> PlannedAlert:
    """Decide what this run sends (``run``: a :class:`perf_tasks.alerts.slack.RunInfo`) from the
    state in ``store`` and build the message. ``measured``: the run's metric names (see
    :func:`judged_keys`). A run without an evaluation (it failed before) resolves nothing.
    ``verdict``: the whole run's (perf_tasks.verdict), for the headline."""
    from perf_tasks.alerts.slack import build_message  # noqa: PLC0415 - slack's module is the heavier one

    state = load_state(store, run.dag_id, run.profile, system) if store is not None else None
    if state is None:
        message = build_message(run, evaluation, comparison, failed_steps, alert_on=alert_on,
                                alert_min_processes=alert_min_processes, verdict=verdict)
        return PlannedAlert(message, None, run.dag_id, run.profile, system)
    items = alert_items(evaluation, comparison, alert_on=alert_on, alert_min_processes=alert_min_processes)
    decision = decide(state, items, judged_keys(evaluation, comparison, measured), now=now, run_id=run.run_id,
                      repeat_after_h=repeat_after_h, worsen_pct=worsen_pct)
    ev, cmp = filter_for_message(evaluation, comparison, decision)
    message = build_message(run, ev, cmp, failed_steps, alert_on=alert_on, alert_min_processes=alert_min_processes,
                            resolved=[r.line() for r in decision.resolved] if resolved else [],
                            ongoing=[f"`{o.metric}`" for o in decision.ongoing], verdict=verdict)
    if message is not None and decision.why:
        message["dedup"] = {"sent": decision.why, "ongoing": [o.key for o in decision.ongoing],
                            "resolved": [r.key for r in decision.resolved]}
    return PlannedAlert(message, decision, run.dag_id, run.profile, system)


def record_delivery(store: ArtifactStore | None, planned: PlannedAlert, delivery_status: str) -> str:
    """Save the state after the message went out (``sent``), or when there was nothing to send
    (``nothing_to_send``: ongoing items' last-seen run and unjudged carry-overs); an outbox
    delivery saves nothing, so the next run sends again. Returns the state's URI or ""."""
    if store is None or planned.decision is None or delivery_status not in ("sent", "nothing_to_send"):
        return ""
    return save_state(store, planned.dag_id, planned.profile, planned.decision.state, planned.system)
