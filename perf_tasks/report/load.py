"""The report's load section: per scenario its rates, generator verdict, per-endpoint percentiles
and charts over time. Pure."""
from __future__ import annotations

from html import escape
from typing import Any

from perf_tasks.fmt import format_number
from perf_tasks.report.parts import row_html, table_html


def line_chart(t_s: list[float], series: dict[str, list[float]], *, unit: str, width: int = 560,
               height: int = 140) -> str:
    """An inline SVG chart of one or more series over time, with its y range and time span labelled."""
    values = [v for vs in series.values() for v in vs]
    if len(t_s) < 2 or not values:
        return ""
    hi = max(values) or 1.0
    colours = ["#1a5fb4", "#b00020", "#2e7d32"]
    left, bottom = 48, 18

    def xy(i: int, v: float) -> tuple[float, float]:
        return (left + i * (width - left - 6) / (len(t_s) - 1),
                height - bottom - (v / hi) * (height - bottom - 8))

    lines, legend = [], []
    for k, (name, vs) in enumerate(series.items()):
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, v in enumerate(vs)))
        lines.append(f'<polyline fill="none" stroke="{colours[k % 3]}" stroke-width="1.5" points="{pts}"/>')
        legend.append(f'<tspan fill="{colours[k % 3]}">{escape(name)}</tspan>')
    return (f'<svg width="{width}" height="{height}" role="img" font-size="11">'
            f'<rect width="100%" height="100%" fill="#fafafa"/>'
            f'<text x="2" y="12">{_axis(hi)} {escape(unit)}</text><text x="2" y="{height - bottom}">0</text>'
            f'<text x="{left}" y="{height - 4}">0 s</text>'
            f'<text x="{width - 60}" y="{height - 4}">{t_s[-1]:.0f} s</text>'
            f'<text x="{left + 60}" y="12">{" · ".join(legend)}</text>' + "".join(lines) + "</svg>")


def _axis(value: float) -> str:
    """An axis label in plain digits: ``1,037``, ``10``, ``0.25`` (never ``1.04e+03``)."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4g}"


def _ms(lat: Any) -> list[str]:
    return [format_number(lat.p50_ms), format_number(lat.p95_ms), format_number(lat.p99_ms)] if lat is not None \
        else ["-", "-", "-"]


def load_section(load: dict[str, Any], *, charts: bool = False) -> list[str]:
    """Per scenario: rates, generator verdict, success and all-requests percentiles per endpoint,
    and over time: intended vs sent vs completed rate, p50/p95/p99, errors (matplotlib charts with
    ``charts``, else small hand-drawn lines). The time series is of the whole scenario: the load
    engine keeps no per-endpoint series."""
    parts = ["<h2 id='load'>Load</h2><p>Latency of <em>successful</em> requests is what the p95 target judges; "
             "<em>all</em> includes failures at their time and arrivals dropped at the send deadline at the wait "
             "they had. Open model: measured from each arrival's intended send time.</p>"]
    for name, r in load.items():
        g = r.generator
        gen = (f"<span class='{'fail' if g.verdict == 'saturated' else 'pass'}'>{escape(g.verdict.upper())}</span> "
               f"(CPU {', '.join(f'{c:.0f} %' for c in g.cpu_pct_per_process) or '-'} per process, loop lag p99 "
               f"{g.loop_lag_p99_ms:.1f} ms, late {g.late_sends_pct:.1f} %, dropped {g.dropped})"
               + (f"<br>{escape(g.reason)}" if g.reason else "")) if g is not None else "unknown"
        achieved = (f"{r.achieved_rate_per_s:,.1f}/s of {r.intended_rate_per_s:,.1f}/s intended "
                    f"({100 * r.achieved_rate_per_s / r.intended_rate_per_s:.1f} %)" if r.intended_rate_per_s
                    else f"{r.achieved_rate_per_s:,.1f}/s (closed model)")
        parts.append(f"<h3>{escape(name)}</h3><p>{escape(r.model)} model, {r.users:,} users, {r.duration_s:g} s, "
                     f"{r.shards} shard(s) → <code>{escape(r.target)}</code><br>rate: {achieved}; throughput "
                     f"{r.throughput_per_s:,.1f} ok/s<br>requests {r.requests:,}, errors {r.errors:,} "
                     f"({escape(', '.join(f'{k} {v}' for k, v in sorted(r.errors_by_class.items())) or 'none')}), "
                     f"dropped {r.dropped:,}; error rate {r.error_rate_pct:.2f} %<br>load generator: {gen}</p>")
        if r.invalid_reason:
            parts.append(f"<p class='warn'>INVALID: {escape(r.invalid_reason)}</p>")
        rows = [row_html([escape(e.name), escape(e.method), f"{e.requests:,}", f"{e.errors:,}", f"{e.dropped:,}",
                      *_ms(e.latency), *_ms(e.latency_all)], ["", "", "num", "num", "num"] + ["num"] * 6)
                for e in r.endpoints]
        rows.append(row_html(["<b>all endpoints</b>", "", f"{r.requests:,}", f"{r.errors:,}", f"{r.dropped:,}",
                          *_ms(r.latency), *_ms(r.latency_all)], ["", "", "num", "num", "num"] + ["num"] * 6))
        parts.append(table_html(["endpoint", "method", "requests", "errors", "dropped", "ok p50 ms", "ok p95 ms",
                             "ok p99 ms", "all p50 ms", "all p95 ms", "all p99 ms"], rows))
        ts = r.timeseries
        if len(ts.t_s) >= 2 and charts:
            parts.append(_load_charts(name, r))
        elif len(ts.t_s) >= 2:
            rate = [c / ts.bucket_s for c in ts.completed]
            sent = [c / ts.bucket_s for c in ts.sent]
            parts.append("<p>" + line_chart(list(ts.t_s), {"sent/s": sent, "completed/s": rate}, unit="req/s")
                         + " " + line_chart(list(ts.t_s), {"p95 (all, by intended time)": list(ts.p95_ms)}, unit="ms")
                         + "</p>")
    return parts


def _load_charts(name: str, r: Any) -> str:
    from perf_tasks.report.charts import bar_chart, series_chart  # noqa: PLC0415

    ts = r.timeseries
    t = list(ts.t_s)
    rates: dict[str, list[float]] = {}
    if r.intended_rate_per_s:
        rates["intended/s"] = [r.intended_rate_per_s if ti < r.duration_s else float("nan") for ti in t]
    rates["sent/s"] = [c / ts.bucket_s for c in ts.sent]
    rates["completed/s"] = [c / ts.bucket_s for c in ts.completed]
    out = [series_chart(t, rates, unit="requests/s", title=f"{name}: achieved vs intended rate",
                        dashed=("intended/s",)),
           series_chart(t, {"p50": list(ts.p50_ms), "p95": list(ts.p95_ms), "p99": list(ts.p99_ms)}, unit="ms",
                        title=f"{name}: latency over time (all requests, by intended send time)")]
    if any(ts.errors):
        out.append(series_chart(t, {"errors/s": [e / ts.bucket_s for e in ts.errors]}, unit="errors/s",
                                title=f"{name}: errors over time (" + (", ".join(
                                    f"{k} {v}" for k, v in sorted(r.errors_by_class.items()) if v) or "-") + ")"))
    eps = [e for e in r.endpoints if e.latency_all is not None or e.latency is not None]
    if len(eps) > 1:
        out.append(bar_chart([e.name for e in eps], [(e.latency_all or e.latency).p95_ms for e in eps], unit="ms",
                             title=f"{name}: p95 per endpoint (all requests)"))
    return "<div class='charts'>" + "".join(c for c in out if c) + "</div>"
