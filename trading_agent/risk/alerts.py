"""Risk alerts: built from limit breaches and VaR backtest verdicts, deduplicated within a
window, rendered as JSON for a downstream channel (the sender is someone else's job).

Building and rendering are pure; time is the ``timestamp_s`` argument (seconds since the
epoch, or any monotonic origin the caller keeps). :class:`AlertDeduplicator` is the only state:
the last time and severity sent per dedup key.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

from trading_agent.risk.backtest import VarBacktestResult
from trading_agent.risk.limits import LimitBreach

ALERT_SCHEMA_VERSION = 1  # v1: {schema_version, channel, n_alerts, n_omitted, alerts: [...]}


class Severity(IntEnum):
    INFO = 10
    WARNING = 20
    CRITICAL = 30


@dataclass(frozen=True)
class Alert:
    """One alert. ``key`` identifies "the same problem" for deduplication; ``value`` and
    ``threshold`` are in the unit of the limit or test that raised it (None when not numeric)."""

    key: str
    severity: Severity
    source: str  # "limit" or "var_backtest"
    message: str
    timestamp_s: float
    value: float | None = None
    threshold: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {"key": self.key, "severity": self.severity.name, "source": self.source,
                "message": self.message, "timestamp_s": self.timestamp_s,
                "value": self.value, "threshold": self.threshold}


def alerts_from_breaches(breaches: Iterable[LimitBreach], timestamp_s: float, *, portfolio: str = "default",
                         critical_ratio: float = 1.25) -> tuple[Alert, ...]:
    """One alert per breach: CRITICAL when ``value >= critical_ratio * threshold``, else WARNING.

    Key: ``<portfolio>:limit:<limit>[:<symbol>]``, so a symbol's breach repeats under one key.
    """
    if critical_ratio < 1.0:
        raise ValueError(f"critical_ratio must be >= 1, got {critical_ratio!r}")
    out = []
    for b in breaches:
        where = f" {b.symbol}" if b.symbol is not None else ""
        key = f"{portfolio}:limit:{b.limit}" + (f":{b.symbol}" if b.symbol is not None else "")
        sev = Severity.CRITICAL if b.value >= critical_ratio * b.threshold else Severity.WARNING
        msg = (f"[{portfolio}] {b.limit}{where} = {b.value:,.2f} over limit {b.threshold:,.2f} "
               f"({b.ratio:.0%} of limit)")
        out.append(Alert(key, sev, "limit", msg, timestamp_s, b.value, b.threshold))
    return tuple(out)


def alerts_from_backtest(result: VarBacktestResult, timestamp_s: float, *,
                         portfolio: str = "default") -> tuple[Alert, ...]:
    """Alerts for rejected backtests (at ``result.alpha``); none when the model passes.

    Too many breaches (Kupiec reject, above expected): CRITICAL, the model understates risk.
    Too few: WARNING, over-conservative. Clustered breaches (independence reject): WARNING.
    """
    label = f"{result.model} {result.confidence:.0%} VaR ({result.window_days}d window)"
    base = f"{portfolio}:var_backtest:{result.model}:{result.confidence:g}:{result.window_days}"
    out = []
    pof = result.kupiec
    if result.pof_rejected:
        under = result.n_breaches > result.expected_breaches
        what = "understates risk" if under else "is over-conservative"
        msg = (f"[{portfolio}] {label} {what}: {result.n_breaches} breaches in {result.n_obs} days, "
               f"expected {result.expected_breaches:.1f} (Kupiec LR {pof.lr:.2f}, p {pof.p_value:.2g})")
        out.append(Alert(f"{base}:pof", Severity.CRITICAL if under else Severity.WARNING, "var_backtest",
                         msg, timestamp_s, float(result.n_breaches), result.expected_breaches))
    ind = result.independence
    if result.independence_rejected:
        msg = (f"[{portfolio}] {label} breaches cluster: P(breach | breach yesterday) {ind.pi1:.1%} vs "
               f"{ind.pi0:.1%} otherwise (Christoffersen LR {ind.lr:.2f}, p {ind.p_value:.2g})")
        out.append(Alert(f"{base}:ind", Severity.WARNING, "var_backtest", msg, timestamp_s, ind.lr, None))
    return tuple(out)


@dataclass(frozen=True)
class DedupResult:
    """What passed the deduplicator and what it held back (counted, never silently lost)."""

    sent: tuple[Alert, ...]
    suppressed: tuple[Alert, ...]


class AlertDeduplicator:
    """Suppress repeats of a key within ``window_s`` seconds of the last time it was sent.

    An alert passes when its key was never sent, when ``timestamp_s - last_sent >= window_s``,
    or when its severity is higher than the last one sent for that key (escalation). Time is
    each alert's ``timestamp_s``; an alert older than the last send of its key is suppressed.
    """

    def __init__(self, window_s: float) -> None:
        if not window_s >= 0:
            raise ValueError(f"window_s must be >= 0, got {window_s!r}")
        self.window_s = window_s
        self._last: dict[str, tuple[float, Severity]] = {}

    def filter(self, alerts: Iterable[Alert]) -> DedupResult:
        sent, suppressed = [], []
        for a in alerts:
            last = self._last.get(a.key)
            if last is None or a.timestamp_s - last[0] >= self.window_s or a.severity > last[1]:
                self._last[a.key] = (a.timestamp_s, a.severity)
                sent.append(a)
            else:
                suppressed.append(a)
        return DedupResult(sent=tuple(sent), suppressed=tuple(suppressed))

    def prune(self, now_s: float) -> int:
        """Forget keys last sent at least ``window_s`` before ``now_s``; returns how many."""
        old = [k for k, (t, _) in self._last.items() if now_s - t >= self.window_s]
        for k in old:
            del self._last[k]
        return len(old)

    def __len__(self) -> int:
        return len(self._last)


def render_json(alerts: Sequence[Alert], *, channel: str = "risk-alerts", max_alerts: int = 100) -> str:
    """A JSON payload, most severe first (stable within a severity); at most ``max_alerts``
    are included and the rest are counted in ``n_omitted``. Non-finite numbers are refused."""
    if max_alerts < 1:
        raise ValueError(f"max_alerts must be >= 1, got {max_alerts!r}")
    ordered = sorted(alerts, key=lambda a: -a.severity)
    kept = ordered[:max_alerts]
    payload = {"schema_version": ALERT_SCHEMA_VERSION, "channel": channel, "n_alerts": len(alerts),
               "n_omitted": len(alerts) - len(kept), "alerts": [a.to_dict() for a in kept]}
    return json.dumps(payload, allow_nan=False, separators=(",", ":"))
