"""Alerts while a long scenario runs: a rolling window of p95 and error rate, judged every few seconds.

The spec's normal scenario lasts 8 hours and its alert-response goal is under 5 minutes, so the
verdict at the end is too late. Every engine process (shard) writes a small *live file* every
``every_s`` seconds (:func:`write_live`): the last ``window_s`` seconds of its time series, one
entry per bucket (arrivals observed, failures, and the bucket's all-requests HDR histogram). A
:class:`LiveMonitor` thread in the task that runs the shards merges the shards' files (buckets are
seconds from the common start, so they line up), and judges the window against the scenario's
targets: p95 of all requests <= ``p95_target_ms`` (when the window holds enough observations for
a p95: :func:`perf_tasks.stats.required_samples`) and failures <= ``max_error_rate_pct``.
A violation held for ``hold_s`` sends **one** alert (``on_alert``); with ``abort`` it also
writes the abort file that makes every shard stop sending (the scenario ends early, its result
says so). The final verdict still comes from the whole result at the end.

Known limit: buckets are by intended send time, so requests still in flight are not in the
window yet: a service that hangs shows up when its requests time out (``timeout_s``).
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from perf_tasks.stats import required_samples
from perf_tasks.load.histo import SERIES_SIGNIFICANT_FIGURES, LatencyHistogram

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveSettings:
    """What a shard needs to take part (picklable: it travels in the plan)."""

    path: str  # this shard's live file
    abort_path: str  # the monitor creates it to stop every shard
    window_s: float = 60.0
    every_s: float = 2.0


@dataclass(frozen=True)
class LiveWindow:
    """The merged window at one moment."""

    at_unix: float
    observations: int
    failures: int
    p95_ms: float | None  # None: too few observations for a p95

    @property
    def error_rate_pct(self) -> float:
        return 100.0 * self.failures / self.observations if self.observations else 0.0


@dataclass(frozen=True)
class LiveAlert:
    scenario: str
    started_unix: float  # when the violation began (first failing check)
    fired_unix: float
    reasons: tuple[str, ...]
    window: LiveWindow
    aborted: bool

    def text(self) -> str:
        held = self.fired_unix - self.started_unix
        return (f":rotating_light: load scenario *{self.scenario}* is failing while it runs "
                f"(held {held:.0f} s): {'; '.join(self.reasons)}"
                + (" - the scenario was aborted" if self.aborted else "; the final verdict comes at the end"))


def write_live(settings: LiveSettings, *, shard: int, start_unix: float, bucket_s: float,
               buckets: Sequence[tuple[int, int, int, str]]) -> None:
    """Atomically write a shard's live file: ``buckets`` are (index, observations, failures,
    encoded all-requests histogram) of the window."""
    path = Path(settings.path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({"shard": shard, "written_unix": time.time(), "start_unix": start_unix,
                               "bucket_s": bucket_s, "buckets": [list(b) for b in buckets]}))
    os.replace(tmp, path)


def read_window(paths: Sequence[Path], window_s: float, *, now_unix: float | None = None) -> LiveWindow | None:
    """Merge the shards' live files over the last ``window_s`` seconds (None: no file yet)."""
    now = time.time() if now_unix is None else now_unix
    docs = []
    for p in paths:
        try:
            docs.append(json.loads(p.read_text()))
        except (FileNotFoundError, json.JSONDecodeError):  # not written yet, or being replaced
            continue
    if not docs:
        return None
    hist = LatencyHistogram(SERIES_SIGNIFICANT_FIGURES)
    failures = 0
    for d in docs:
        first = int((now - window_s - d["start_unix"]) // d["bucket_s"])
        for index, _obs, failed, encoded in d["buckets"]:
            if index >= first:
                hist.add_encoded(encoded)
                failures += failed
    n = hist.total_count
    p95 = hist.values_at_percentiles((95.0,))[0] / 1000.0 if n >= required_samples("latency_p95_ms") else None
    return LiveWindow(now, n, failures, p95)


class LiveMonitor:
    """Judge the shards' rolling window every ``every_s`` seconds in a thread; fire once."""

    def __init__(self, scenario: str, paths: Sequence[Path], abort_path: Path, *, p95_target_ms: float,
                 max_error_rate_pct: float, window_s: float, hold_s: float, every_s: float, abort: bool,
                 on_alert: Callable[[LiveAlert], None], min_observations: int = 20,
                 on_window: Callable[[LiveWindow], None] | None = None) -> None:
        self.scenario, self.paths, self.abort_path = scenario, list(paths), abort_path
        self.p95_target_ms, self.max_error_rate_pct = p95_target_ms, max_error_rate_pct
        self.window_s, self.hold_s, self.every_s, self.abort = window_s, hold_s, every_s, abort
        self.on_alert, self.min_observations, self.on_window = on_alert, min_observations, on_window
        self.alert: LiveAlert | None = None
        self.checks = 0
        self._since: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"live-{scenario}", daemon=True)

    def violations(self, w: LiveWindow) -> list[str]:
        out = []
        if w.observations >= self.min_observations and w.error_rate_pct > self.max_error_rate_pct:
            out.append(f"error rate {w.error_rate_pct:.1f} % > {self.max_error_rate_pct:g} % over the last "
                       f"{self.window_s:g} s ({w.failures} of {w.observations})")
        if w.p95_ms is not None and w.p95_ms > self.p95_target_ms:
            out.append(f"p95 of all requests {w.p95_ms:.0f} ms > {self.p95_target_ms:g} ms over the last "
                       f"{self.window_s:g} s ({w.observations} requests)")
        return out

    def check(self, now_unix: float | None = None) -> LiveAlert | None:
        """One judgement (the thread calls it; tests call it directly)."""
        self.checks += 1
        w = read_window(self.paths, self.window_s, now_unix=now_unix)
        if w is not None and self.on_window is not None:
            try:
                self.on_window(w)  # e.g. a live push to Prometheus
            except Exception:  # noqa: BLE001 - monitoring must never break the measurement
                log.exception("live window callback of %s failed", self.scenario)
        if w is None or self.alert is not None:
            return None
        bad = self.violations(w)
        if not bad:
            self._since = None
            return None
        if self._since is None:
            self._since = w.at_unix
        if w.at_unix - self._since < self.hold_s:
            return None
        if self.abort:
            self.abort_path.parent.mkdir(parents=True, exist_ok=True)
            self.abort_path.write_text(json.dumps({"reasons": bad, "at_unix": w.at_unix}))
        self.alert = LiveAlert(self.scenario, self._since, w.at_unix, tuple(bad), w, self.abort)
        log.warning("live alert: %s", self.alert.text())
        try:
            self.on_alert(self.alert)
        except Exception:  # noqa: BLE001 - a failed alert must not stop the run; the final verdict follows
            log.exception("live alert for %s could not be delivered", self.scenario)
        return self.alert

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.check()
            except Exception:  # noqa: BLE001 - monitoring must never break the measurement
                log.exception("live check of %s failed", self.scenario)

    def __enter__(self) -> LiveMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
