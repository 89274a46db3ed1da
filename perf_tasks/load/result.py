"""Load-run results: frozen dataclasses, one JSON format, and an exact merge of shard results.

Latencies are milliseconds in summaries; histograms are HDR (1 us .. 60 s) of microseconds,
encoded as base64 (``LatencyHistogram.encode``) so shards merge exactly: counters add.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from perf_tasks.load.histo import (
    SERIES_SIGNIFICANT_FIGURES,
    LatencyHistogram,
    LatencySummary,
    merge_encoded,
)
from perf_tasks.results import ResourceSummary, from_dict, to_dict

# Format history (bump on any incompatible change and say what changed):
#   1 (2026-11-27): first format.
#   2 (2026-11-29): ``latency``/``histogram`` are of successful requests; ``latency_all``/
#      ``histogram_all`` of every arrival (errors, timeouts, drops at their wait); generator health;
#      the shard's wall-clock window (``start_unix``/``end_unix``, ``shard_windows``);
#      ``invalid_reason``. Version 1 reads: its latency (errors included) becomes ``latency_all``.
LOAD_SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)

Model = Literal["open", "closed"]
Source = Literal["perf_tasks.load", "locust"]
ERROR_CLASSES = ("4xx", "5xx", "timeout", "connection", "other")


@dataclass(frozen=True)
class EndpointResult:
    """One journey step (requests are named by step)."""

    name: str
    method: str
    requests: int  # completed: answered (any status) or failed
    errors: int
    latency: LatencySummary | None  # successful requests
    histogram: str  # base64 HDR of microseconds; "" when empty or unknown (Locust)
    dropped: int = 0  # arrivals of this step given up at the send deadline
    latency_all: LatencySummary | None = None  # every arrival: successes, errors, drops (at their wait)
    histogram_all: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.errors <= self.requests:
            raise ValueError(f"endpoint {self.name}: errors={self.errors} must be within [0, requests={self.requests}]")


@dataclass(frozen=True)
class TimeSeries:
    """Per-bucket columns (``bucket_s`` wide, usually 1 s) from the run's start.

    ``sent`` and ``errors`` and the percentiles are by *intended* send time (what the arrivals of
    that second experienced); ``completed`` is by completion time (throughput).
    """

    bucket_s: float
    t_s: tuple[float, ...] = ()
    sent: tuple[int, ...] = ()
    completed: tuple[int, ...] = ()
    errors: tuple[int, ...] = ()
    p50_ms: tuple[float, ...] = ()
    p95_ms: tuple[float, ...] = ()
    p99_ms: tuple[float, ...] = ()
    histograms: tuple[str, ...] = ()  # per bucket, 2 significant figures; "" when empty or unknown

    def __post_init__(self) -> None:
        n = len(self.t_s)
        for name in ("sent", "completed", "errors", "p50_ms", "p95_ms", "p99_ms", "histograms"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"TimeSeries.{name} has {len(getattr(self, name))} values, t_s has {n}")
        if not self.bucket_s > 0:
            raise ValueError(f"TimeSeries.bucket_s must be > 0, got {self.bucket_s}")


@dataclass(frozen=True)
class GeneratorHealth:
    """Was the load generator, not the system under test, the limit?

    ``verdict`` is "ok", "saturated" (the scenario's targets are then invalid: the service did
    not see the intended load) or "unknown" (not measured, e.g. Locust). Saturated means arrivals
    went out late or were dropped *while* the generator itself was out of CPU (a process near a
    full core) or its event loop stalled; late sends with an idle generator are the service's
    doing (every user was waiting for an answer)."""

    verdict: Literal["ok", "saturated", "unknown"]
    reason: str = ""
    processes: int = 1
    cpu_pct_per_process: tuple[float, ...] = ()  # mean CPU of each engine process, % of one core
    cpu_pct_max: float = 0.0  # the busiest process's peak
    loop_lag_p50_ms: float = 0.0  # event-loop lag: how late a 250 ms timer fired
    loop_lag_p99_ms: float = 0.0
    loop_lag_max_ms: float = 0.0
    late_sends_pct: float = 0.0  # of sent requests
    dropped: int = 0
    achieved_pct: float = 100.0  # achieved / intended rate (open model)
    shards_needed: int = 0  # estimate of processes (cores) for the intended rate; 0 when ok
    cpu_wait_pct: float = 0.0  # share of the run the busiest process waited, runnable, for a CPU


@dataclass(frozen=True)
class LoadResult:
    scenario: str
    model: Model
    source: Source
    target: str  # base URL
    started_at: str  # UTC ISO 8601
    duration_s: float  # the send window (scheduled duration)
    elapsed_s: float  # start to the last completion
    users: int  # open model: max in flight; closed model: virtual users
    intended_requests: int  # open model: arrivals in the schedule; closed: requests sent
    intended_rate_per_s: float  # open: intended_requests / duration_s; closed: 0 (no intended rate)
    achieved_rate_per_s: float  # requests sent / duration_s
    throughput_per_s: float  # successful responses / elapsed_s
    requests: int  # completed (answered with any status, or failed)
    errors: int
    error_rate_pct: float  # (errors + dropped) / (requests + dropped) * 100
    errors_by_class: dict[str, int]  # 4xx, 5xx, timeout, connection, other
    errors_by_code: dict[str, int]  # HTTP status code -> count, for 4xx/5xx
    error_samples: dict[str, str]  # class -> the first message seen
    late_sends: int  # sent more than late_threshold_ms after the intended time
    late_threshold_ms: float
    lateness: LatencySummary | None  # how late the late sends were
    lateness_histogram: str
    dropped: int  # scheduled but not sent before the run's send deadline
    out_of_range: int  # latencies over 60 s (recorded clamped at 60 s: percentiles stay conservative)
    latency: LatencySummary | None  # overall, successful requests (status < 400)
    histogram: str
    endpoints: tuple[EndpointResult, ...]
    timeseries: TimeSeries
    engine_resources: ResourceSummary | None = None
    target_resources: ResourceSummary | None = None
    co_corrected: bool = True  # latency from the intended send time (open model)
    shards: int = 1
    seed: int | None = None
    notes: tuple[str, ...] = ()
    schema_version: int = LOAD_SCHEMA_VERSION
    latency_all: LatencySummary | None = None  # every arrival: errors at their time, drops at their wait
    histogram_all: str = ""
    generator: GeneratorHealth | None = None
    start_unix: float = 0.0  # wall clock of the schedule's time zero (the shard's start)
    end_unix: float = 0.0  # wall clock of the last completion
    shard_windows: tuple[tuple[float, float], ...] = ()  # merged: each shard's (start_unix, end_unix)
    invalid_reason: str = ""  # the result cannot carry a verdict (e.g. shards did not overlap)

    @property
    def successes(self) -> int:
        return self.requests - self.errors

    def __post_init__(self) -> None:
        if min(self.requests, self.errors, self.dropped, self.late_sends, self.out_of_range) < 0:
            raise ValueError("LoadResult counts must be >= 0")
        if self.errors > self.requests:
            raise ValueError(f"LoadResult errors={self.errors} > requests={self.requests}")
        if sum(self.errors_by_class.values()) != self.errors:
            raise ValueError(f"errors_by_class {self.errors_by_class} does not add up to errors={self.errors}")


def error_rate_pct(errors: int, dropped: int, requests: int) -> float:
    """Dropped sends count as failures: the load the scenario asked for was not delivered."""
    denom = requests + dropped
    return 100.0 * (errors + dropped) / denom if denom else 0.0


def result_to_json(result: LoadResult) -> str:
    return json.dumps(to_dict(result), indent=1)


def result_from_json(text: str, *, source: str = "<string>") -> LoadResult:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: not valid JSON: {exc}") from exc
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version not in READABLE_VERSIONS:
        raise ValueError(f"{source}: load result schema_version {version!r} is not supported "
                         f"(this code reads {list(READABLE_VERSIONS)})")
    if version == 1:  # its latency included errors: that is the all-requests view
        data = {**data, "schema_version": LOAD_SCHEMA_VERSION, "latency_all": data.get("latency"),
                "histogram_all": data.get("histogram", ""),
                "endpoints": [{**e, "latency_all": e.get("latency"), "histogram_all": e.get("histogram", "")}
                              for e in data.get("endpoints", [])],
                "notes": [*data.get("notes", []), "read from format 1: latency includes failed requests"]}
    try:
        return from_dict(LoadResult, data)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{source}: not a valid LoadResult: {exc}") from exc


# --- merge ---------------------------------------------------------------------------------

def _same(results: Sequence[LoadResult], attr: str) -> object:
    values = {getattr(r, attr) for r in results}
    if len(values) > 1:
        raise ValueError(f"cannot merge load results with different {attr}: {sorted(map(str, values))}")
    return values.pop()


def _merge_series(series: Sequence[TimeSeries]) -> tuple[TimeSeries, bool]:
    """Columns add bucket by bucket (buckets are relative to each shard's start: shards that start
    together line up); percentiles are recomputed from the added histograms. Returns (series,
    exact): not exact when a shard has no per-bucket histograms (its percentiles are maxed)."""
    bucket_s = {s.bucket_s for s in series}
    if len(bucket_s) > 1:
        raise ValueError(f"cannot merge time series with different bucket_s: {sorted(bucket_s)}")
    n = max((len(s.t_s) for s in series), default=0)
    b = bucket_s.pop() if bucket_s else 1.0

    def col(name: str, i: int) -> list:
        return [getattr(s, name)[i] for s in series if i < len(s.t_s)]

    sent, completed, errors, p50, p95, p99, hists = [], [], [], [], [], [], []
    exact = True
    for i in range(n):
        sent.append(sum(col("sent", i)))
        completed.append(sum(col("completed", i)))
        errors.append(sum(col("errors", i)))
        parts = [(h, s) for h, s in zip(col("histograms", i), col("sent", i))]
        if all(h or s == 0 for h, s in parts):
            h = merge_encoded((h for h, _ in parts), SERIES_SIGNIFICANT_FIGURES)
            q = h.values_at_percentiles((50.0, 95.0, 99.0))
            p50.append(q[0] / 1000.0), p95.append(q[1] / 1000.0), p99.append(q[2] / 1000.0)
            hists.append(h.encode())
        else:
            exact = False
            p50.append(max(col("p50_ms", i))), p95.append(max(col("p95_ms", i))), p99.append(max(col("p99_ms", i)))
            hists.append("")
    t = tuple(round(i * b, 6) for i in range(n))
    return TimeSeries(b, t, tuple(sent), tuple(completed), tuple(errors), tuple(p50), tuple(p95), tuple(p99),
                      tuple(hists)), exact


def _sum_resources(items: Sequence[ResourceSummary | None]) -> ResourceSummary | None:
    present = [r for r in items if r is not None]
    if not present:
        return None
    first = present[0]
    return replace(
        first,
        samples=sum(r.samples for r in present),
        process_cpu_pct_mean=sum(r.process_cpu_pct_mean for r in present),
        process_cpu_pct_max=sum(r.process_cpu_pct_max for r in present),
        rss_max_bytes=sum(r.rss_max_bytes for r in present),
        system_cpu_pct_mean=max(r.system_cpu_pct_mean for r in present),
        system_memory_pct_max=max(r.system_memory_pct_max for r in present),
    )


def _merge_hist(encoded: Sequence[str]) -> tuple[str, LatencySummary | None]:
    h: LatencyHistogram = merge_encoded(encoded)
    return h.encode(), h.summary()


#: shards must share at least this share of their send window to count as one run
MIN_OVERLAP = 0.9


def shard_overlap(windows: Sequence[tuple[float, float]], duration_s: float) -> tuple[float, str]:
    """(seconds all shards ran together, "" or why that is not enough). Rates of shards add only
    when they ran at the same time: at least MIN_OVERLAP of the send window together."""
    if len(windows) < 2:
        return duration_s, ""
    if any(start <= 0 for start, _ in windows):
        return 0.0, "a shard did not record when it ran (older result format): rates cannot be added"
    together = min(e for _, e in windows) - max(s for s, _ in windows)
    if together >= MIN_OVERLAP * duration_s:
        return together, ""
    first = min(start for start, _ in windows)
    starts = [round(start - first, 1) for start, _ in windows]
    return max(together, 0.0), (
        f"shards did not run at the same time: together for {max(together, 0.0):.1f} s of a {duration_s:g} s send "
        f"window (need {MIN_OVERLAP:.0%}); shard starts at +{starts} s. The service saw about 1/{len(windows)} of "
        "the intended rate at a time (an executor that runs mapped tasks one after another?): run the shards as "
        "processes of one task (shard_mode: processes)")


def merge_generator(results: Sequence[LoadResult]) -> GeneratorHealth | None:
    """Saturated when any shard was (its share of the load did not go out as planned). Per-process
    figures of the merged result are the worst shard's (loop lag percentiles, CPU wait), not
    percentiles over the shards' pooled ticks; ``cpu_pct_per_process`` lists every shard."""
    gens = [r.generator for r in results if r.generator is not None]
    if not gens:
        return None
    worst = next((g for g in gens if g.verdict == "saturated"), None)
    sent = sum(r.achieved_rate_per_s for r in results)
    intended = sum(r.intended_rate_per_s for r in results)
    return GeneratorHealth(
        verdict="saturated" if worst else ("unknown" if any(g.verdict == "unknown" for g in gens) else "ok"),
        reason=worst.reason if worst else "",
        processes=sum(g.processes for g in gens),
        cpu_pct_per_process=tuple(c for g in gens for c in g.cpu_pct_per_process),
        cpu_pct_max=max(g.cpu_pct_max for g in gens),
        loop_lag_p50_ms=max(g.loop_lag_p50_ms for g in gens), loop_lag_p99_ms=max(g.loop_lag_p99_ms for g in gens),
        loop_lag_max_ms=max(g.loop_lag_max_ms for g in gens),
        late_sends_pct=100.0 * sum(r.late_sends for r in results) / max(1, sum(r.requests for r in results)),
        dropped=sum(g.dropped for g in gens),
        achieved_pct=100.0 * sent / intended if intended else 100.0,
        shards_needed=sum(g.shards_needed or g.processes for g in gens) if worst else 0,
        cpu_wait_pct=max(g.cpu_wait_pct for g in gens),
    )


def merge_results(results: Sequence[LoadResult]) -> LoadResult:
    """Merge K shard results of one scenario exactly: counts add, histograms add (HDR); rates add
    only when the shards ran together (:func:`shard_overlap`): otherwise the merged result is
    invalid (``invalid_reason``) and its rates are the counts over the whole span.

    Refuses results of different scenarios, models, sources or late thresholds (naming the
    values), and Locust results whose histograms are unknown (their percentiles cannot be merged).
    """
    if not results:
        raise ValueError("merge_results needs at least one result")
    if len(results) == 1:
        return results[0]
    for attr in ("scenario", "model", "source", "target", "late_threshold_ms", "co_corrected"):
        _same(results, attr)
    missing = [i for i, r in enumerate(results) if r.requests and not r.histogram]
    if missing:
        raise ValueError(f"results {missing} carry no latency histogram (e.g. Locust's): percentiles cannot "
                         "be merged exactly")
    first = results[0]
    histogram, latency = _merge_hist([r.histogram for r in results])
    histogram_all, latency_all = _merge_hist([r.histogram_all for r in results])
    lateness_h, lateness = _merge_hist([r.lateness_histogram for r in results])
    endpoints: dict[str, list[EndpointResult]] = {}
    for r in results:
        for e in r.endpoints:
            endpoints.setdefault(e.name, []).append(e)
    merged_endpoints = []
    for name, parts in endpoints.items():
        enc, summary = _merge_hist([e.histogram for e in parts])
        enc_all, summary_all = _merge_hist([e.histogram_all for e in parts])
        merged_endpoints.append(EndpointResult(name, parts[0].method, sum(e.requests for e in parts),
                                               sum(e.errors for e in parts), summary, enc,
                                               dropped=sum(e.dropped for e in parts), latency_all=summary_all,
                                               histogram_all=enc_all))
    series, exact = _merge_series([r.timeseries for r in results])
    by_class: Counter[str] = Counter()
    by_code: Counter[str] = Counter()
    samples: dict[str, str] = {}
    for r in results:
        by_class.update(r.errors_by_class)
        by_code.update(r.errors_by_code)
        for k, v in r.error_samples.items():
            samples.setdefault(k, v)
    requests = sum(r.requests for r in results)
    errors = sum(r.errors for r in results)
    dropped = sum(r.dropped for r in results)
    elapsed = max(r.elapsed_s for r in results)
    ok = requests - errors
    notes = list(dict.fromkeys(n for r in results for n in r.notes))
    notes.append(f"merged from {sum(r.shards for r in results)} shards: histograms and counts added exactly; "
                 "engine resources are summed over shards")
    if not exact:
        notes.append("time-series percentiles: a shard had no per-bucket histograms; the max over shards is shown")
    windows = tuple(w for r in results for w in (r.shard_windows or ((r.start_unix, r.end_unix),)))
    duration = max(r.duration_s for r in results)
    together, not_together = shard_overlap(windows, duration)
    invalid = "; ".join(x for x in dict.fromkeys([*(r.invalid_reason for r in results), not_together]) if x)
    if not_together:
        span = max(e for _, e in windows) - min(s for s, _ in windows)
        intended_rate = sum(r.intended_requests for r in results) / span if span > 0 else 0.0
        achieved_rate = sum(r.achieved_rate_per_s * r.duration_s for r in results) / span if span > 0 else 0.0
        notes.append(not_together)
    else:
        intended_rate = sum(r.intended_rate_per_s for r in results)
        achieved_rate = sum(r.achieved_rate_per_s for r in results)
        if len(windows) > 1:
            notes.append(f"{len(windows)} shards ran together for {together:.1f} s of the {duration:g} s send window")
    return LoadResult(
        scenario=first.scenario, model=first.model, source=first.source, target=first.target,
        started_at=min(r.started_at for r in results),
        duration_s=max(r.duration_s for r in results), elapsed_s=elapsed,
        users=sum(r.users for r in results),
        intended_requests=sum(r.intended_requests for r in results),
        intended_rate_per_s=intended_rate if first.model == "open" else 0.0,
        achieved_rate_per_s=achieved_rate,
        throughput_per_s=ok / elapsed if elapsed > 0 else 0.0,
        requests=requests, errors=errors, error_rate_pct=error_rate_pct(errors, dropped, requests),
        errors_by_class=dict(by_class), errors_by_code=dict(by_code), error_samples=samples,
        late_sends=sum(r.late_sends for r in results), late_threshold_ms=first.late_threshold_ms,
        lateness=lateness, lateness_histogram=lateness_h,
        dropped=dropped, out_of_range=sum(r.out_of_range for r in results),
        latency=latency, histogram=histogram, endpoints=tuple(merged_endpoints), timeseries=series,
        engine_resources=_sum_resources([r.engine_resources for r in results]),
        target_resources=next((r.target_resources for r in results if r.target_resources is not None), None),
        co_corrected=first.co_corrected, shards=sum(r.shards for r in results),
        seed=first.seed, notes=tuple(notes),
        latency_all=latency_all, histogram_all=histogram_all, generator=merge_generator(results),
        start_unix=min(s for s, _ in windows), end_unix=max(e for _, e in windows), shard_windows=windows,
        invalid_reason=invalid,
    )


__all__ = ["EndpointResult", "GeneratorHealth", "shard_overlap", "LatencySummary", "LoadResult", "TimeSeries",
           "error_rate_pct", "merge_results",
           "result_from_json", "result_to_json", "LOAD_SCHEMA_VERSION", "ERROR_CLASSES"]
