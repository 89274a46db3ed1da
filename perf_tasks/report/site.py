"""The history site of a DAG: static pages written into the artifact store (asv-publish style).

``<dag>/_site/index.html``: every run (newest first) with its verdict, linked to its report, and
every tracked metric per profile with a sparkline and its level changes; filters by suite and
profile (a few lines of inline script; without script every row shows). ``<dag>/_site/metrics/
<metric>--<profile>.html``: the metric's whole history as a chart with change points marked, the
change points with the runs and commits around them, and every run. Links are relative, so the
site works from disk, from S3 static website hosting, or behind the API server's
``/perf-reports`` route. Charts are inline SVG (perf_tasks.report.charts): nothing external.

:func:`collect_runs` reads the store (the run index, one manifest per run for its verdict);
:func:`build_pages` is pure; :func:`publish_site` does both and writes the pages.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from perf_tasks.errors import StoreError
from perf_tasks.regress.history import History, detect_changes
from perf_tasks.regress.levels import LevelConfig
from perf_tasks.report.parts import environment, sparkline
from perf_tasks.store import ArtifactStore, S3Store, run_index, safe_id
from perf_tasks.verdict import verdict_of_summary

log = logging.getLogger(__name__)

SITE_DIR = "_site"
_ENV_SKIP = ("dag_id", "profile")


@dataclass(frozen=True)
class SiteRun:
    run_id: str
    finished_at: str
    status: str
    verdict: str  # PASS, WARNING, INVALID, CRITICAL (perf_tasks.verdict, kept in the manifest), UNKNOWN
    profile: str
    git_sha: str | None
    metrics: dict[str, float]
    env: str  # the comparable environment, in words ("" when unknown)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def suites(self) -> list[str]:
        return sorted({m.split(".", 1)[0] for m in self.metrics})


@dataclass(frozen=True)
class SiteOutcome:
    index_uri: str
    pages: int
    runs: int
    metrics: int


def _env(key: dict[str, Any] | None) -> str:
    return ", ".join(f"{k} {v}" for k, v in (key or {}).items() if k not in _ENV_SKIP)


def collect_runs(store: ArtifactStore, dag_id: str, *, max_runs: int = 500) -> list[SiteRun]:
    """The newest ``max_runs`` sealed runs of ``dag_id``, newest first, with their verdicts (from
    the index entry's ``summary`` when it has one, else one manifest read per run; an unreadable
    manifest gives verdict UNKNOWN)."""
    out = []
    for entry in run_index(store, dag_id)[:max_runs]:
        summary: dict[str, Any] = entry.get("summary") or {}  # in the index entry when the run put it there
        if not summary:
            try:
                summary = store.get_json(f"{entry['prefix']}/manifest.json").get("summary") or {}
            except (StoreError, OSError, ValueError) as exc:
                log.warning("site: manifest of run %s unreadable (%s): verdict UNKNOWN", entry.get("run_id"), exc)
        key = entry.get("key") or {}
        out.append(SiteRun(run_id=entry["run_id"], finished_at=entry.get("finished_at", ""),
                           status=entry.get("status", "?"), verdict=verdict_of_summary(entry.get("status", "?"), summary),
                           profile=str(key.get("profile") or "?"), git_sha=entry.get("git_sha"),
                           metrics={k: float(v) for k, v in (entry.get("metrics") or {}).items()},
                           env=_env(key), summary=summary))
    return out


def direction_of(metric: str) -> str:
    """Which way is better for a tracked metric, from its name (the index keeps values only)."""
    return "higher" if metric.endswith(("_per_s", "throughput")) or "throughput" in metric else "lower"


def page_name(metric: str, profile: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"{metric}--{profile}") + ".html"


def _fmt(v: float) -> str:
    return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"


def _sparkline(values: Sequence[float], marks: Sequence[int]) -> str:
    return sparkline(list(values[-60:]), [m - max(0, len(values) - 60) for m in marks], width=160, height=28)


def build_pages(dag_id: str, runs: Sequence[SiteRun], *, level: LevelConfig = LevelConfig(),
                generated_at: str = "", report_prefix: str = "..") -> dict[str, str]:
    """The site's pages, ``relative path -> HTML``. ``runs`` newest first (as collected);
    ``report_prefix``: the DAG folder relative to the site folder (run reports are
    ``<report_prefix>/<run>/report.html``)."""
    from perf_tasks.report.charts import ChangeMark, trend_chart  # noqa: PLC0415

    env = environment()
    generated_at = generated_at or datetime.now(timezone.utc).isoformat(timespec="seconds")

    def report(run_id: str, depth: int) -> str:
        return "/".join([".."] * depth + [report_prefix, safe_id(run_id), "report.html"]).replace("/./", "/")

    oldest_first = list(reversed(runs))
    by_metric: dict[tuple[str, str], list[SiteRun]] = {}
    for r in oldest_first:
        if r.status != "success":
            continue
        for m in r.metrics:
            by_metric.setdefault((m, r.profile), []).append(r)
    pages: dict[str, str] = {}
    metric_rows = []
    n_changes = 0
    for (metric, profile), mruns in sorted(by_metric.items()):
        groups = []
        all_changes = []
        for env_text in dict.fromkeys(r.env for r in mruns):
            g = [r for r in mruns if r.env == env_text and r.metrics[metric] > 0]
            if not g:
                continue
            hist = History(metric, tuple(r.run_id for r in g), tuple(r.metrics[metric] for r in g),
                           tuple(r.git_sha for r in g))
            found = detect_changes(hist, direction=direction_of(metric), method="whole",  # type: ignore[arg-type]
                                   level=level)
            all_changes += found
            marks = [ChangeMark(c.index, c.kind, f"{c.change_pct:+.0f} %") for c in found]
            changes = []
            for c in found:
                lo, hi = max(0, c.index - 3), min(len(g), c.index + 3)
                rng = c.last_good_commit[:12] + ".." + c.commit[:12] if c.last_good_commit and c.commit and \
                    c.last_good_commit != c.commit else (c.commit or "")[:12]
                levels = (f"{c.before:.4g} → {c.after:.4g}" + (
                    f" ([{c.before_low:.4g}, {c.before_high:.4g}] → [{c.after_low:.4g}, {c.after_high:.4g}])"
                    if c.before_low is not None and c.after_low is not None else "")) if c.kind != "noise" else \
                    f"spread {c.before:.3g} % → {c.after:.3g} %"
                changes.append({"kind": c.kind, "change_pct": c.change_pct, "levels": levels, "run": c.run,
                                "report": report(c.run, 1), "last_good_run": c.last_good_run,
                                "last_good_report": report(c.last_good_run, 1) if c.last_good_run else "",
                                "commits": rng, "around": [
                                    {"run_id": r.run_id, "value": _fmt(r.metrics[metric]), "git_sha": r.git_sha,
                                     "report": report(r.run_id, 1), "first": i == c.index}
                                    for i, r in enumerate(g[lo:hi], start=lo)]})
            rows = [{"run_id": r.run_id, "finished_at": r.finished_at, "value": _fmt(r.metrics[metric]),
                     "verdict": r.verdict, "git_sha": r.git_sha, "report": report(r.run_id, 1)} for r in reversed(g)]
            chart = trend_chart([r.run_id for r in g], [r.metrics[metric] for r in g], unit=_unit(metric),
                                title=f"{metric} ({profile})", marks=marks, highlight=len(g) - 1)
            groups.append({"env": env_text or "unknown", "chart": chart or "<p>Only one run so far.</p>",
                           "changes": changes, "rows": rows, "values": [r.metrics[metric] for r in g],
                           "marks": [c.index for c in found if c.kind in ("regression", "improvement")]})
        if not groups:
            continue
        n_changes += sum(c.kind in ("regression", "improvement") for c in all_changes)
        name = page_name(metric, profile)
        latest = mruns[-1]
        pages[f"metrics/{name}"] = env.get_template("site_metric.html").render(
            dag_id=dag_id, metric=metric, profile=profile, n=len(mruns), first_at=mruns[0].finished_at,
            last_at=latest.finished_at, last=_fmt(latest.metrics[metric]), unit=_unit(metric),
            changes=all_changes, groups=groups, generated_at=generated_at)
        main = max(groups, key=lambda gr: len(gr["values"]))
        metric_rows.append({"metric": metric, "suite": metric.split(".", 1)[0], "profile": profile,
                            "n": len(mruns), "last": _fmt(latest.metrics[metric]), "page": f"metrics/{name}",
                            "spark": _sparkline(main["values"], main["marks"]),
                            "changes": [c for c in all_changes if c.kind in ("regression", "improvement")][-3:]})
    run_rows = [{"run_id": r.run_id, "finished_at": r.finished_at, "profile": r.profile, "verdict": r.verdict,
                 "summary": r.summary, "git_sha": r.git_sha, "suites": r.suites, "report": report(r.run_id, 0)}
                for r in runs]
    pages["index.html"] = env.get_template("site_index.html").render(
        dag_id=dag_id, runs=run_rows, metrics=metric_rows, n_changes=n_changes,
        latest=run_rows[0] if run_rows else None, shown_note="newest first",
        suites=sorted({s for r in runs for s in r.suites}), profiles=sorted({r.profile for r in runs}),
        generated_at=generated_at)
    return pages


def _unit(metric: str) -> str:
    tail = metric.rsplit(".", 1)[-1]
    for suffix, unit in (("_ms", "ms"), ("_per_s", "/s"), ("_pct", "%"), ("_bytes", "bytes"), ("_s", "s")):
        if tail.endswith(suffix):
            return unit
    return ""


def put_html(store: ArtifactStore, key: str, data: bytes) -> None:
    """Write a page; on S3 with ``Content-Type: text/html`` so static website hosting serves it as
    a page (the store's generic put leaves S3's binary default)."""
    if isinstance(store, S3Store):
        full = f"{store.prefix}/{key}" if store.prefix else key
        store._call("put", key, lambda: store.client.put_object(  # noqa: SLF001 - its retry wrapper
            Bucket=store.bucket, Key=full, Body=data, ContentType="text/html; charset=utf-8"))
    else:
        store.put_bytes(key, data)


def publish_site(store: ArtifactStore, dag_id: str, *, level: LevelConfig = LevelConfig(),
                 max_runs: int = 500) -> SiteOutcome:
    """Build the site from the store and write it to ``<dag>/_site/``; returns the index's URI."""
    runs = collect_runs(store, dag_id, max_runs=max_runs)
    pages = build_pages(dag_id, runs, level=level)
    prefix = f"{safe_id(dag_id, what='DAG id')}/{SITE_DIR}"
    for rel, html in sorted(pages.items(), key=lambda kv: kv[0] == "index.html"):  # the index last
        put_html(store, f"{prefix}/{rel}", html.encode())
    uri = store.uri(f"{prefix}/index.html")
    log.info("history site of %s: %d pages (%d runs, %d metric pages) at %s", dag_id, len(pages), len(runs),
             len(pages) - 1, uri)
    return SiteOutcome(uri, len(pages), len(runs), len(pages) - 1)
