"""Run a user's existing locustfile headless (a subprocess, never imported) and read its CSVs.

Locust is a closed-model tool: its users wait for each answer before sending the next request,
so a stalled server gets fewer requests and its percentiles are not corrected for coordinated
omission. The converted result says so (``model="closed"``, ``co_corrected=False``, a note) and
carries no histograms: its percentiles are Locust's own and cannot be merged with ours.
"""
from __future__ import annotations

import csv
import io
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from perf_tasks.errors import UserError
from perf_tasks.load.histo import LatencySummary
from perf_tasks.load.result import EndpointResult, LoadResult, TimeSeries, error_rate_pct
from perf_tasks.load.safety import DEFAULT_ALLOWLIST, check_target
from perf_tasks.monitor.sampler import ResourceSampler
from perf_tasks.results import ResourceSummary

log = logging.getLogger(__name__)
STARTUP_ALLOWANCE_S = 60.0  # imports and spawn before Locust's own -t clock starts


class LocustError(UserError):
    """Locust could not run the locustfile or wrote no statistics."""


def locust_command(locustfile: str | Path, target_url: str, *, users: int, spawn_rate: float, duration_s: float,
                   csv_prefix: str | Path, python: str = sys.executable, extra_args: Sequence[str] = ()) -> list[str]:
    """The headless Locust command line (pure)."""
    return [python, "-m", "locust", "-f", str(locustfile), "--headless", "-u", str(int(users)),
            "-r", f"{spawn_rate:g}", "-t", f"{max(1, round(duration_s))}s", "--host", target_url,
            "--csv", str(csv_prefix), "--only-summary", *extra_args]


def _num(text: str | None) -> float:
    if text is None or text.strip() in ("", "N/A"):
        return 0.0
    return float(text)


def _summary(row: dict[str, str]) -> LatencySummary | None:
    count = int(_num(row.get("Request Count")))
    if count == 0:
        return None
    p = [_num(row.get(k)) for k in ("50%", "90%", "95%", "99%", "99.9%")]
    for i in range(1, len(p)):  # Locust rounds each percentile on its own; keep them ordered
        p[i] = max(p[i], p[i - 1])
    return LatencySummary(count=count, min_ms=_num(row.get("Min Response Time")),
                          mean_ms=_num(row.get("Average Response Time")), p50_ms=p[0], p90_ms=p[1], p95_ms=p[2],
                          p99_ms=p[3], p999_ms=p[4], max_ms=max(_num(row.get("Max Response Time")), p[4]))


def classify_failure(error: str) -> tuple[str, str | None]:
    """(class, HTTP code or None) for a Locust failure message."""
    m = re.search(r"code=(\d{3})", error) or re.search(r"\b([45]\d\d) (?:Client|Server) Error", error)
    if m:
        code = m.group(1)
        return ("4xx" if code.startswith("4") else "5xx"), code
    low = error.lower()
    if "timeout" in low or "timed out" in low:
        return "timeout", None
    if any(w in low for w in ("connection", "refused", "reset", "closed", "broken pipe", "unreachable")):
        return "connection", None
    return "other", None


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text()))) if path.exists() else []


def _series(history: list[dict[str, str]]) -> TimeSeries:
    last_by_ts: dict[int, dict[str, str]] = {}
    for row in history:
        if row.get("Name") == "Aggregated":
            last_by_ts[int(_num(row["Timestamp"]))] = row  # Locust can write one second twice
    if not last_by_ts:
        return TimeSeries(bucket_s=1.0)
    stamps = sorted(last_by_ts)
    t, completed, errors, p50, p95, p99 = [], [], [], [], [], []
    prev_req = prev_fail = 0
    for ts in stamps:
        row = last_by_ts[ts]
        req, fail = int(_num(row["Total Request Count"])), int(_num(row["Total Failure Count"]))
        t.append(float(ts - stamps[0]))
        completed.append(max(0, req - prev_req))
        errors.append(max(0, fail - prev_fail))
        prev_req, prev_fail = req, fail
        p50.append(_num(row.get("50%"))), p95.append(_num(row.get("95%"))), p99.append(_num(row.get("99%")))
    n = len(t)
    return TimeSeries(1.0, tuple(t), tuple(completed), tuple(completed), tuple(errors), tuple(p50), tuple(p95),
                      tuple(p99), ("",) * n)


def result_from_locust_csv(csv_prefix: str | Path, *, scenario: str, target_url: str, users: int,
                           duration_s: float, started_at: str,
                           engine_resources: ResourceSummary | None = None) -> LoadResult:
    """Convert ``PREFIX_stats.csv`` (+ ``_failures.csv``, ``_stats_history.csv``) into a LoadResult."""
    prefix = str(csv_prefix)
    stats = _rows(Path(prefix + "_stats.csv"))
    if not stats:
        raise LocustError(f"{prefix}_stats.csv is missing or empty: Locust wrote no statistics")
    agg = next((r for r in stats if r.get("Name") == "Aggregated"), None)
    if agg is None:
        raise LocustError(f"{prefix}_stats.csv has no 'Aggregated' row")
    endpoints = tuple(
        EndpointResult(name=r["Name"], method=r.get("Type") or "", requests=int(_num(r["Request Count"])),
                       errors=int(_num(r["Failure Count"])), latency=_summary(r), histogram="")
        for r in stats if r.get("Name") != "Aggregated")
    requests, errors = int(_num(agg["Request Count"])), int(_num(agg["Failure Count"]))
    by_class: Counter[str] = Counter()
    by_code: Counter[str] = Counter()
    samples: dict[str, str] = {}
    for row in _rows(Path(prefix + "_failures.csv")):
        cls, code = classify_failure(row.get("Error", ""))
        n = int(_num(row.get("Occurrences")))
        by_class[cls] += n
        if code:
            by_code[code] += n
        samples.setdefault(cls, f"{row.get('Method', '')} {row.get('Name', '')}: {row.get('Error', '')}"[:300])
    if sum(by_class.values()) != errors:  # failures CSV missing or truncated: never lose the count
        by_class["other"] += errors - sum(by_class.values())
        if by_class["other"] < 0:
            raise LocustError(f"{prefix}_failures.csv lists more failures than the stats ({errors})")
        if by_class["other"] == 0:
            del by_class["other"]
    history = _rows(Path(prefix + "_stats_history.csv"))
    return LoadResult(
        scenario=scenario, model="closed", source="locust", target=target_url, started_at=started_at,
        duration_s=duration_s, elapsed_s=duration_s, users=users, intended_requests=requests,
        intended_rate_per_s=0.0, achieved_rate_per_s=requests / duration_s,
        throughput_per_s=(requests - errors) / duration_s, requests=requests, errors=errors,
        error_rate_pct=error_rate_pct(errors, 0, requests), errors_by_class=dict(by_class),
        errors_by_code=dict(by_code), error_samples=samples, late_sends=0, late_threshold_ms=0.0, lateness=None,
        lateness_histogram="", dropped=0, out_of_range=0, latency=_summary(agg), histogram="",
        endpoints=endpoints, timeseries=_series(history), engine_resources=engine_resources,
        co_corrected=False, seed=None,
        notes=("Locust (closed model): percentiles are Locust's own, measured from each actual send and not "
               "corrected for coordinated omission; a stalled server gets fewer requests, so they understate "
               "what an open arrival process would see",
               "time-series percentiles are Locust's current-response-time window, not per-second histograms"),
    )


def run_locustfile(locustfile: str | Path, target_url: str, *, users: int, duration_s: float,
                   spawn_rate: float | None = None, scenario: str = "locust",
                   allow: Sequence[str] = DEFAULT_ALLOWLIST, workdir: str | Path | None = None,
                   timeout_s: float | None = None, cpu: int | None = None, extra_args: Sequence[str] = (),
                   python: str = sys.executable) -> LoadResult:
    """Run ``locustfile`` headless against ``target_url`` (checked against ``allow`` first).

    Bounded: Locust stops itself after ``duration_s``; the process is killed after ``timeout_s``
    (default: duration + 60 s). ``cpu`` pins Locust to one CPU. Raises LocustError on failure.
    """
    target = check_target(target_url, allow, source="locust target")
    lf = Path(locustfile)
    if not lf.is_file():
        raise LocustError(f"locustfile {lf} does not exist")
    if not (isinstance(users, int) and users >= 1) or not duration_s > 0:
        raise LocustError(f"users must be >= 1 and duration_s > 0, got users={users!r} duration_s={duration_s!r}")
    work = Path(workdir) if workdir else lf.parent
    work.mkdir(parents=True, exist_ok=True)
    prefix = work / f"locust-{scenario}-{os.getpid()}-{int(time.time() * 1000)}"
    cmd = locust_command(lf, target.base_url, users=users, spawn_rate=spawn_rate or users, duration_s=duration_s,
                         csv_prefix=prefix, python=python, extra_args=extra_args)
    limit = timeout_s if timeout_s is not None else duration_s + STARTUP_ALLOWANCE_S
    log_path = Path(str(prefix) + ".log")
    started_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    log.info("locust: %s", " ".join(cmd))
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None)
        sampler = None
        try:
            sampler = ResourceSampler(1.0, pid=proc.pid).start()
        except Exception as exc:  # psutil.Error: the process already ended; keep going without samples
            log.warning("cannot sample locust (pid %d): %s", proc.pid, exc)
        try:
            rc = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise LocustError(f"locust ran past its {limit:g} s limit and was killed; log: {log_path}") from None
        finally:
            resources = sampler.stop().summary if sampler is not None else None
    if rc not in (0, 1) or not Path(str(prefix) + "_stats.csv").exists():  # 1: some requests failed
        tail = log_path.read_text()[-1500:]
        raise LocustError(f"locust exited with {rc} for {lf}; log {log_path}:\n{tail}")
    return result_from_locust_csv(prefix, scenario=scenario, target_url=target.base_url, users=users,
                                  duration_s=float(max(1, round(duration_s))), started_at=started_at,
                                  engine_resources=resources)
