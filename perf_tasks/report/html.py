"""The run report: one self-contained HTML page (no scripts, no external assets; charts are inline
SVG), from the Jinja2 template ``templates/report.html``. Pure: data in, HTML out."""
from __future__ import annotations

import math

from html import escape
from typing import Any

from perf_tasks.fmt import format_margin, format_number, format_value
from perf_tasks.report.load import load_section
from perf_tasks.report.parts import environment, row_html, sparkline, table_html
from perf_tasks.results import Comparison, Evaluation, RunResults
from perf_tasks.verdict import RunJudgement, judge_run, measured_text


def histogram_svg(values_ms: list[float], *, target_ms: float | None = None, bins: int = 24, width: int = 160,
                  height: int = 36) -> str:
    """A small inline SVG histogram of observations (ms), clipped at the 99.5th percentile (the tail
    beyond it is one bar at the right edge); a red line marks the target, a dark one the p95."""
    if len(values_ms) < 2:
        return ""
    xs = sorted(values_ms)
    lo, hi = xs[0], xs[min(len(xs) - 1, int(0.995 * len(xs)))]
    if target_ms is not None and target_ms < hi * 1.5:
        hi = max(hi, target_ms)
    span = (hi - lo) or 1.0
    counts = [0] * bins
    for v in xs:
        counts[min(bins - 1, max(0, int((v - lo) / span * bins)))] += 1
    top = max(counts)
    w = width / bins
    bars = "".join(f'<rect x="{i * w:.1f}" y="{height - c / top * (height - 2):.1f}" width="{w - 0.5:.1f}" '
                   f'height="{c / top * (height - 2):.1f}" fill="#1a5fb4"/>' for i, c in enumerate(counts) if c)

    def line(v: float, colour: str) -> str:
        x = (v - lo) / span * width
        return f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{height}" stroke="{colour}" stroke-width="1.5"/>' \
            if 0 <= x <= width else ""

    p95 = xs[min(len(xs) - 1, int(0.95 * len(xs)))]
    return (f'<svg width="{width}" height="{height}" role="img"><title>{len(xs)} observations, {lo:.4g}-{hi:.4g} ms'
            f'</title><rect width="100%" height="100%" fill="#fafafa"/>{bars}{line(p95, "#222")}'
            f'{line(target_ms, "#b00020") if target_ms is not None else ""}</svg>')


def _ratio_ci(c: Any) -> str:
    if c.ratio_ci_low is None:
        return "-"
    level = f"{c.ci_level:.0%}: " if c.ci_level is not None else ""
    return f"{level}{c.ratio_ci_low:.3f} – {c.ratio_ci_high:.3f}"


def _comparison_section(comparison: Comparison | None) -> list[str]:
    parts = ["<h2>Comparison with the baseline</h2>"]
    key = (comparison.key if comparison else {}) or {}
    key_text = (" Comparison key: " + ", ".join(f"{escape(k)} <code>{escape(v)}</code>" for k, v in key.items())
                + "; per benchmark also its params digest and device.") if key else ""
    if comparison is None or comparison.baseline_run_id is None:
        return parts + [f"<p>No baseline: {escape(comparison.note if comparison else 'comparison did not run')}."
                        f"{key_text}</p>"]
    level = 1 - comparison.alpha
    parts.append(
        f"<p>{escape(comparison.baseline_kind.capitalize())} baseline run <code>{escape(comparison.baseline_run_id)}"
        f"</code>.{key_text} A regression needs both magnitude (threshold {comparison.threshold_pct:g} %, or the "
        f"metric's override) and significance: the {level:.0%} interval of the ratio current / baseline excludes 1. "
        "Each metric is tested on its own statistic (median, mean, p95, p99, throughput) with a two-level bootstrap "
        f"that resamples worker processes, then observations within them ({comparison.resamples:,} resamples, at "
        f"most {comparison.max_observations:,} observations per side), so the variance between processes counts; "
        "the interval is widened for few processes (Student t). Mann-Whitney U on pooled observations is shown for "
        "the median and mean as information only." + (f" <b>{escape(comparison.note)}</b>" if comparison.note else "")
        + "</p>")
    colour = {"regression": "fail", "improvement": "pass", "inconclusive": "warn", "not_comparable": "warn"}
    rows = []
    for c in comparison.changes:
        comparable = c.status != "not_comparable"
        procs = (f"{c.processes_baseline} / {c.processes_current}"
                 if c.processes_baseline is not None and c.processes_current is not None else "-")
        rows.append(row_html([
            f"<code>{escape(c.metric)}</code>",
            escape(format_value(c.baseline, c.unit)) if comparable else "-", escape(format_value(c.current, c.unit)),
            f"{c.change_pct:+.1f} %" if comparable and abs(c.change_pct) < float("inf") else "-",
            escape(c.test or "none"), _ratio_ci(c), procs,
            f"{c.pvalue:.2g}" if c.pvalue is not None else "-",
            f"{c.mannwhitney_pvalue:.2g}" if c.mannwhitney_pvalue is not None else "-",
            c.status.replace("_", " "), escape(c.reason)],
            ["", "num", "num", "num", "", "num", "num", "num", "num", colour.get(c.status, ""), ""]))
    return parts + [table_html(["metric", "baseline", "current", "change", "test", "ratio interval", "processes b / c",
                            "p (gate)", "Mann-Whitney p (info)", "status", "why"], rows)]


def _history_section(comparison: Comparison | None, history: dict[str, dict[str, Any]]) -> list[str]:
    parts = [f"<h2 id='history'>History</h2>"]
    if not history:
        return parts + ["<p>No history yet.</p>"]
    changes = comparison.history_changes if comparison else ()
    parts.append(f"<p>{comparison.history_runs if comparison else 0} runs with this run's comparison key (profile, "
                 "comparable environment and, per benchmark, params digest and device; other runs are left out). "
                 "At every run the whole history is searched again (perf_tasks.regress.levels): level changes "
                 "(robust two-sample z on log values; the new level must hold 4 runs, so a spike of up to 3 runs never "
                 "counts), transients (excursions that came back: left out of every level) and changes of the noise; "
                 "dashed lines mark level changes; NEW ones alert.</p>")
    rows = []
    for metric, series in history.items():
        runs = series["runs"]
        mine = [c for c in changes if c.metric == metric]
        marks = [runs.index(c.run) for c in mine if c.run in runs and c.kind in ("regression", "improvement")]
        text = "; ".join(f"{'NEW ' if c.new else ''}{c.kind} {c.change_pct:+.1f} % from run {c.run}"
                         + (f" (commits {c.commit_range})" if c.commit_range else "") for c in mine)
        rows.append(row_html([f"<code>{escape(metric)}</code>", sparkline(series["values"], marks),
                          f"{series['values'][-1]:.4g}", escape(text or "-")], ["", "", "num", ""]))
    return parts + [table_html(["metric", "last 100 runs", "this run", "level changes"], rows)]


def _area_verdict(statuses: list[str]) -> str:
    """An area's (suite's) verdict from its targets' statuses, by the run verdict's order."""
    if "critical" in statuses:
        return "CRITICAL"
    if "invalid" in statuses:
        return "INVALID"
    return "WARNING" if "warning" in statuses else "PASS"


def recommendations(results: RunResults, evaluation: Evaluation, load: dict[str, Any] | None = None) -> list[str]:
    """Short advice derived from the results (pure; each line names what it is about)."""
    out: list[str] = []
    invalid = list(evaluation.invalid)
    few = [v for v in invalid if "observations;" in v.reason]
    busy = [v for v in invalid if v.reason.startswith("host busy")]
    saturated = [v for v in invalid if "load generator saturated" in v.reason]
    if few:
        out.append(f"{len(few)} percentile target(s) had too few observations for a verdict "
                   f"(e.g. {few[0].metric}): run the standard profile, which takes enough samples.")
    if busy:
        out.append(f"{len(busy)} miss(es) happened while other processes used the host's CPUs "
                   f"(e.g. {busy[0].metric}): rerun on a quiet host before acting on them.")
    if saturated:
        need = "; ".join(sorted({v.reason.rsplit('Run about', 1)[-1].strip() for v in saturated
                                 if "Run about" in v.reason}))
        out.append(f"The load generator was the limit in {len({v.metric.split('.')[1] for v in saturated})} "
                   f"scenario(s): give it more cores ({need or 'more shards'}).")
    tight = [v for v in evaluation.verdicts if v.status == "pass" and 0 < v.margin < 1.2]
    if tight:
        names = ", ".join(v.metric for v in tight[:3])
        out.append(f"{len(tight)} target(s) pass with less than 20 % margin ({names}): the next slowdown fails them.")
    for suite in results.suites:
        for b in suite.benchmarks:
            s = b.latency_s
            if s is not None and s.median > 0 and s.mad / s.median > 0.25 and b.processes >= 2:
                out.append(f"{b.key} is noisy (MAD {100 * s.mad / s.median:.0f} % of the median): its comparisons "
                           "need more worker processes (standard: 5, full: 20).")
                break
    for name, r in (load or {}).items():
        tr = r.target_resources
        if tr is not None and tr.process_cpu_pct_max >= 90 * max(1, (r.shards or 1)) and r.latency is not None:
            out.append(f"Load {name}: the service process reached {tr.process_cpu_pct_max:.0f} % CPU: it is CPU-bound "
                       "at this rate (more workers or instances; see the scalability run).")
    return out[:8]


_CAVEATS = {"observations;": "too few observations for the percentile", "host busy": "a busy host",
            "load generator saturated": "the load generator was the limit",
            "did not run at the same time": "load shards did not run together", "no data": "nothing was measured"}


def _finding_html(f: Any, previous_note: str = "") -> str:
    css = {"critical": "fail", "failed_step": "fail", "regression": "fail" if f.alerts else "warn"}.get(f.kind, "warn")
    said = f.note and f.note == previous_note  # the finding above gave it: once is enough
    text = ("not alerted: as above" if f.note.startswith("not alerted") else "as above") if said else f.note
    note = f" <span class='muted'>({escape(text)})</span>" if f.note else ""
    return (f"<b class='{css}'>{escape(f.label)}</b> <code>{escape(f.metric)}</code>: {escape(f.detail)}{note}")


def executive_summary(results: RunResults, evaluation: Evaluation, comparison: Comparison | None,
                      load: dict[str, Any] | None = None, judgement: RunJudgement | None = None) -> list[str]:
    """The first screen: the findings (perf_tasks.verdict, worst first: a target that would have
    been missed but could not be judged is one, right after the critical ones), one verdict per
    area (suite), the caveats (targets not judged) and advice."""
    judgement = judgement or judge_run(evaluation, comparison)
    findings = judgement.headline
    parts = ["<h2 id='summary'>Summary</h2>"]
    if findings:
        parts.append(f"<p><b>Findings</b> ({len(findings)}, worst first):</p><ol class='findings'>"
                     + "".join(f"<li>{_finding_html(f, findings[i - 1].note if i else '')}</li>"
                               for i, f in enumerate(findings[:12])) + "</ol>"
                     + (f"<p class='muted'>... and {len(findings) - 12} more below.</p>" if len(findings) > 12 else ""))
    elif judgement.targets and judgement.invalid == judgement.targets:
        parts.append(f"<p><b>Findings:</b> none, but no target could be judged: all {judgement.targets} are "
                     "INVALID (see why below). This run shows nothing about the system.</p>")
    elif judgement.invalid:
        parts.append(f"<p><b>Findings:</b> none: every judged target met ({judgement.passed} of {judgement.targets}; "
                     f"{judgement.invalid} not judged, below), no regression.</p>")
    elif judgement.targets:
        parts.append("<p><b>Findings:</b> none: every target met, no regression.</p>")
    else:
        parts.append("<p><b>Findings:</b> none; this run has no targets to judge.</p>")
    areas: dict[str, list[str]] = {}
    for v in evaluation.verdicts:
        areas.setdefault(v.metric.split(".", 1)[0], []).append(v.status)
    failed = set(evaluation.failed_benchmarks)
    for s in results.suites:
        areas.setdefault(s.suite, [])
        if any(b.key in failed for b in s.benchmarks):
            areas[s.suite].append("critical")
    rows = []
    for area, statuses in areas.items():
        verdict = _area_verdict(statuses)
        css = {"CRITICAL": "fail", "PASS": "pass"}.get(verdict, "warn")
        counts = ", ".join(f"{statuses.count(s)} {s}" for s in ("pass", "warning", "critical", "invalid")
                           if statuses.count(s))
        rows.append(row_html([escape(area), verdict if statuses else "-", escape(counts or "no targets")],
                         ["", css if statuses else "", ""]))
    parts.append(table_html(["area", "verdict", "targets"], rows))
    caveats: dict[str, list[str]] = {}
    for v in evaluation.invalid:
        kind = next((k for needle, k in _CAVEATS.items() if needle in v.reason), v.reason.split(";", 1)[0][:80])
        caveats.setdefault(kind, []).append(v.metric)
    if caveats:
        n = len(evaluation.invalid)
        parts.append(f"<p><b>Not judged:</b> {n} target{'s' if n > 1 else ''} INVALID, never counted as "
                     "passes: " + escape("; ".join(f"{len(m)} because of {k} (e.g. {m[0]})" for k, m in caveats.items()))
                     + ".</p>")
    advice = recommendations(results, evaluation, load)
    if advice:
        parts.append("<p><b>Recommendations:</b></p><ul>" + "".join(f"<li>{escape(a)}</li>" for a in advice)
                     + "</ul>")
    return parts


_SECTION_KEYS = {"title", "html", "table", "headers", "text", "id", "open"}


def render_section(section: dict[str, Any], *, index: int = 0) -> str:
    """One report section supplied by a run kind (``report_extras`` -> ``sections``).

    ``title`` (required); then any of ``text`` (a paragraph, escaped), ``html`` (trusted markup
    built by the kind, e.g. an inline SVG chart), ``table`` (rows: lists of cells or dicts; dict
    rows take their keys as headers unless ``headers`` is given; cells are escaped, floats shown
    with 4 significant digits). ``id`` is the anchor (default ``section-<index>``); ``open``: False
    puts the body in a collapsed ``<details>``. Raises ValueError naming the bad key or value."""
    if not isinstance(section, dict):
        raise ValueError(f"report section {index}: expected a dict with 'title' and 'html' or 'table', "
                         f"got {type(section).__name__}")
    unknown = set(section) - _SECTION_KEYS
    if unknown:
        raise ValueError(f"report section {index} ({section.get('title', '?')!r}): unknown key(s) {sorted(unknown)}; "
                         f"expected {sorted(_SECTION_KEYS)}")
    title = section.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ValueError(f"report section {index}: 'title' must be a non-empty string, got {title!r}")
    if not any(k in section for k in ("html", "table", "text")):
        raise ValueError(f"report section {index} ({title!r}): needs 'html', 'table' or 'text'")
    anchor = escape(str(section.get("id") or f"section-{index}"))
    body = []
    if section.get("text"):
        body.append(f"<p>{escape(str(section['text']))}</p>")
    if section.get("html"):
        body.append(str(section["html"]))
    if "table" in section:
        body.append(_section_table(section["table"], section.get("headers"), title, index))
    inner = "".join(body)
    if section.get("open", True) is False:
        inner = f"<details><summary>details</summary>{inner}</details>"
    return f"<section class='extra' id='{anchor}'><h2>{escape(title)}</h2>{inner}</section>"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return escape("-" if value is None else str(value))


def _section_table(rows: Any, headers: Any, title: str, index: int) -> str:
    if not isinstance(rows, (list, tuple)):
        raise ValueError(f"report section {index} ({title!r}): 'table' must be a list of rows, "
                         f"got {type(rows).__name__}")
    if headers is None and rows and all(isinstance(r, dict) for r in rows):
        headers = list(dict.fromkeys(k for r in rows for k in r))
    out = []
    for i, row in enumerate(rows):
        if isinstance(row, dict):
            cells = [row.get(h) for h in (headers or [])]
        elif isinstance(row, (list, tuple)):
            cells = list(row)
        else:
            raise ValueError(f"report section {index} ({title!r}): table row {i} must be a list or a dict, "
                             f"got {row!r}")
        out.append(row_html([_cell(c) for c in cells],
                        ["num" if isinstance(c, (int, float)) and not isinstance(c, bool) else "" for c in cells]))
    return table_html([str(h) for h in headers or []], out) if headers else \
        "<table>" + "".join(out) + "</table>"


def render_report(results: RunResults, evaluation: Evaluation, comparison: Comparison | None,
                  *, links: dict[str, str] | None = None, failed_steps: dict[str, str] | None = None,
                  history: dict[str, dict[str, Any]] | None = None, load: dict[str, Any] | None = None,
                  sections: list[dict[str, Any]] | None = None, charts: bool = True, trend_runs: int = 50,
                  generated_at: str = "", judgement: RunJudgement | None = None) -> str:
    """The page (Jinja2 template ``templates/report.html``): the verdict and executive summary
    first, then one card per benchmark (distribution, judged metrics, trend with change points),
    the load section, a kind's own ``sections`` (stress, scalability: see :func:`render_section`),
    targets and alerts; the technical details (comparison, history, full tables, environment)
    collapsed at the end. ``load`` maps scenario -> merged LoadResult; ``charts`` False leaves the
    matplotlib charts out (a faster, smaller page)."""

    n_missed = sum(v.status in ("warning", "critical") for v in evaluation.verdicts)
    critical = len(evaluation.critical)
    judgement = judgement or judge_run(evaluation, comparison, failed_steps=failed_steps)
    verdict = judgement.verdict  # the one verdict (perf_tasks.verdict): INVALID is never shown as PASS
    css = {"CRITICAL": "fail", "PASS": "pass"}.get(verdict, "warn")
    headline = (f"run <code>{escape(results.run_id)}</code> · profile <code>{escape(results.profile)}</code> · "
                f"started {escape(results.started_at)} · {len(evaluation.verdicts)} targets, {n_missed} missed, "
                f"{len(evaluation.invalid)} invalid · "
                f"{len(evaluation.violations)} alerts ({critical} critical)")

    rows = []
    for v in evaluation.verdicts:
        ok = {"pass": "pass", "critical": "fail", "warning": "warn", "invalid": "warn"}[v.status]
        rows.append(row_html([f"<code>{escape(v.metric)}</code>", escape(f"{v.op} {format_value(v.threshold, v.unit)}"),
                          escape(measured_text(v)), f"{v.samples:,}" if v.samples is not None else "-",
                          "no data" if measured_text(v) == "no data" else format_margin(v.margin, ascii_only=False),
                          v.status.upper(), escape(v.reason)], ["", "num", "num", "num", "num", ok, ""]))
    targets = ("<h2 id='targets'>Targets</h2><p>Margin is target / measured for upper bounds and measured / target "
               "for lower bounds: above 1 passes.</p>"
               + table_html(["metric", "target", "measured", "samples", "margin", "verdict", "why"], rows))
    alerts = ""
    if evaluation.violations:
        alerts = "<h2 id='alerts'>Alerts</h2>" + table_html(["severity", "metric", "measured", "threshold", "source"], [
            row_html([v.severity, f"<code>{escape(v.metric)}</code>", escape(format_value(v.value, v.unit)),
                  escape(f"{v.op} {format_value(v.threshold, v.unit)}"), escape(v.source)],
                 ["fail" if v.severity == "critical" else "warn", "", "num", "num", ""])
            for v in evaluation.violations])
    env_html = table_html(["field", "value"], [row_html([escape(k), escape(_fmt(v))]) for k, v in results.fingerprint.items()])
    if results.host_metrics:
        env_html += table_html(["host reading at setup", "value"], [
            row_html([f"<code>{escape(m.name)}</code>", escape(format_value(m.value, m.unit))]) for m in results.host_metrics])
    skip_load = bool(load)
    cards = benchmark_cards(results, evaluation, comparison, history or {}, charts=charts, trend_runs=trend_runs,
                            skip_suites=("load",) if skip_load else ())
    return environment().get_template("report.html").render(
        dag_id=results.dag_id, run_id=results.run_id, verdict=verdict, verdict_css=css, headline=headline,
        links=list((links or {}).items()), failed_steps=list((failed_steps or {}).items()),
        summary="\n".join(executive_summary(results, evaluation, comparison, load, judgement)),
        cards=cards, trend_runs=trend_runs, load="\n".join(load_section(load, charts=charts)) if load else "",
        sections=[render_section(sec, index=i) for i, sec in enumerate(sections or [])],
        targets=targets, alerts=alerts, comparison="\n".join(_comparison_section(comparison)),
        history="\n".join(_history_section(comparison, history or {})),
        bench_table=_benchmark_table(results, skip_load), environment=env_html, generated_at=generated_at)


def _benchmark_table(results: RunResults, skip_load: bool) -> str:
    rows = []
    for suite in results.suites:
        if skip_load and suite.suite == "load":
            continue  # shown in the load section
        for b in suite.benchmarks:
            s = b.latency_s
            res = b.resources
            target = _p95_target(b)
            rows.append(row_html([
                f"<code>{escape(b.key)}</code>", histogram_svg([v * 1e3 for v in b.observation_s], target_ms=target),
                escape(b.item_unit), str(b.items_per_call), f"{len(b.observation_s):,} in {b.processes} proc" + (f" x {b.calls_per_observation} calls" if b.calls_per_observation > 1 else ""),
                f"{s.median * 1e3:.4g}" if s else "-", f"{s.p95 * 1e3:.4g}" if s else "-", f"{s.p99 * 1e3:.4g}" if s else "-",
                f"{s.ci_low * 1e3:.4g} – {s.ci_high * 1e3:.4g}" if s else "-",
                f"{s.mad / s.median * 100:.1f} %" if s and s.median else "-",
                f"{res.process_cpu_pct_mean:.0f} %" if res else "-",
                f"{res.rss_max_bytes / 2**20:.0f} MiB" if res else "-",
                escape(", ".join(f"{k}={v}" for k, v in b.info.items())),
                escape(b.error or "")], ["", "", "", "num", "num", "num", "num", "num", "num", "num", "num", "num", "",
                                         "fail"]))
    if not rows:
        return ""
    return ("<p>Distribution: observations in ms (the tail past the 99.5th percentile clipped); black "
            "line: p95; red line: the p95/p99 target.</p>"
            + table_html(["benchmark", "distribution", "item", "items/call", "observations", "p50 ms/obs.", "p95 ms/obs.",
                      "p99 ms/obs.", "95 % CI of median (ms)", "MAD / median", "process CPU", "peak RSS",
                      "workload info", "error"], rows))


def _p95_target(b: Any) -> float | None:
    if b.calls_per_observation != 1:
        return None
    return next((m.target.threshold for m in b.metrics if m.target is not None
                 and m.name.endswith(("latency_p95_ms", "latency_p99_ms")) and m.target.max is not None), None)


def trend_marks(metric: str, runs: list[str], comparison: Comparison | None) -> list[Any]:
    """Change marks on a metric's history chart from the comparison's history findings."""
    from perf_tasks.report.charts import ChangeMark  # noqa: PLC0415

    out = []
    for c in comparison.history_changes if comparison else ():
        if c.metric == metric and c.run in runs:
            out.append(ChangeMark(runs.index(c.run), c.kind, f"{'NEW ' if c.new else ''}{c.change_pct:+.0f} %"))
    return out


def benchmark_cards(results: RunResults, evaluation: Evaluation, comparison: Comparison | None,
                    history: dict[str, dict[str, Any]], *, charts: bool = True, trend_runs: int = 50,
                    skip_suites: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """One card per benchmark: caption (observations, processes, percentiles), distribution chart,
    its judged metrics, and a trend chart per tracked metric of it (last ``trend_runs`` runs)."""
    from perf_tasks.report.charts import distribution_chart, trend_panel  # noqa: PLC0415

    verdicts = {v.metric: v for v in evaluation.verdicts}
    cards = []
    for suite in results.suites:
        if suite.suite in skip_suites:
            continue
        for b in suite.benchmarks:
            s = b.latency_s
            per = "call" if b.calls_per_observation == 1 else f"batch of {b.calls_per_observation} calls"
            caption = (f"{len(b.observation_s):,} observations (one {per} each) in {b.processes} worker process(es)"
                       + (f"; p50 {format_value(s.median * 1e3, 'ms')}, p95 {format_value(s.p95 * 1e3, 'ms')}, "
                          f"p99 {format_value(s.p99 * 1e3, 'ms')}, {s.ci_level:.0%} CI of the median "
                          f"{format_number(s.ci_low * 1e3)}–{format_value(s.ci_high * 1e3, 'ms')}" if s else ""))
            if not b.observation_s:  # a scenario (stress, scalability), not timed calls: say what it was
                caption = b.callable if " " in b.callable else f"{b.calls:,} operations measured"
            rows = []
            for m in b.metrics:
                v = verdicts.get(m.name)
                if v is None:
                    continue
                rows.append({"metric": m.name, "value": measured_text(v),
                             "target": f"{v.op} {format_value(v.threshold, v.unit)}",
                             "samples": f"{v.samples:,}" if v.samples is not None else "-",
                             "margin": "no data" if measured_text(v) == "no data"
                             else format_margin(v.margin, ascii_only=False),
                             "verdict": v.status.upper(),
                             "css": {"pass": "pass", "critical": "fail"}.get(v.status, "warn")})
            dist, trends = "", []
            if charts:
                pct = {"p50": s.median * 1e3, "p95": s.p95 * 1e3, "p99": s.p99 * 1e3} if s else None
                dist = distribution_chart([v * 1e3 for v in b.observation_s], title="observations (ms)",
                                          target_ms=_p95_target(b), percentiles=pct)
                mine = {metric: s for metric, s in history.items()
                        if metric.rpartition(".")[0] == b.key and len(s["values"]) >= 2}
                if mine:  # one panel per benchmark: its tracked metrics over the same runs
                    longest = max(mine.values(), key=lambda s: len(s["runs"]))
                    runs = list(longest["runs"])[-trend_runs:]
                    short = {m.rpartition(".")[2]: m for m in mine}
                    trends.append(trend_panel(
                        runs, {k: list(mine[m]["values"])[-trend_runs:] for k, m in short.items()},
                        units={k: _unit_of(m) for k, m in short.items()},
                        marks={k: trend_marks(m, runs, comparison) for k, m in short.items()},
                        targets={k: t.target.threshold for k, m in short.items() for t in b.metrics
                                 if t.name == m and t.target is not None},
                        title=f"last {len(runs)} runs"))
            cards.append({"key": b.key, "caption": caption, "error": b.error, "rows": rows,
                          "distribution": dist, "trends": [t for t in trends if t]})
    return cards


def _unit_of(metric: str) -> str:
    tail = metric.rsplit(".", 1)[-1]
    return next((u for suf, u in (("_ms", "ms"), ("_per_s", "/s"), ("_pct", "%")) if tail.endswith(suf)), "")


def _fmt(v: Any) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k} {val}" for k, val in v.items())
    return str(v)
