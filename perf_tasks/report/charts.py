"""Charts for the run report and the history site: matplotlib drawn straight to inline SVG.

No pyplot (no global state, no GUI backend): each chart is a :class:`matplotlib.figure.Figure`
saved as SVG text with its fonts left as text (small, selectable) and a fixed hash salt (the same
data gives the same bytes). Pure: data in, an ``<svg ...>`` string out ("" when there is too
little data to draw). Nothing external: the SVG opens offline.
"""
from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from perf_tasks.fmt import format_value

BLUE, RED, GREEN, GREY, DARK = "#1a5fb4", "#b00020", "#2e7d32", "#888888", "#222222"
_RC = {"svg.fonttype": "none", "font.size": 8, "axes.titlesize": 9, "axes.spines.top": False,
       "axes.spines.right": False, "axes.grid": True, "grid.color": "#e6e6e6", "grid.linewidth": 0.6,
       # plain tick labels: no "1e3" exponent or "+1.037e3" offset above an axis
       "axes.formatter.limits": (-7, 9), "axes.formatter.useoffset": False}


@dataclass(frozen=True)
class ChangeMark:
    """A change point on a trend: the index of the first run of the new level."""

    index: int
    kind: str  # regression | improvement | transient | noise
    label: str = ""


def _figure(width_in: float, height_in: float, *, left: float = 0.75, right: float = 0.15, top: float = 0.3,
            bottom: float = 0.55, hspace: float = 0.35) -> Any:
    """A figure with fixed margins in inches (matplotlib's constrained layout costs ~35 % more
    per chart, and a report draws a hundred)."""
    from matplotlib.figure import Figure  # noqa: PLC0415 - ~0.3 s import, only when a chart is drawn

    fig = Figure(figsize=(width_in, height_in), dpi=96)
    fig.subplots_adjust(left=left / width_in, right=1 - right / width_in, top=1 - top / height_in,
                        bottom=bottom / height_in, hspace=hspace)
    return fig


def _svg(fig: Any, title: str, salt: str) -> str:
    import matplotlib  # noqa: PLC0415

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt, "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]  # drop the XML declaration and DOCTYPE: it is inlined in HTML
    # a title element for screen readers and tooltips; role=img so the chart is one image
    text = re.sub(r"<svg ", "<svg role=\"img\" class=\"chart\" ", text, count=1)
    return text.replace(">", f"><title>{_esc(title)}</title>", 1) if title else text


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _rc() -> Any:
    import matplotlib  # noqa: PLC0415

    return matplotlib.rc_context(_RC)


_RUN_PREFIX = re.compile(r"^(scheduled|manual|backfill|asset_triggered|cli)__")


def _short(label: str, n: int = 16) -> str:
    """A run id short enough for an axis: Airflow's run-type prefix dropped, the rest cut."""
    label = _RUN_PREFIX.sub("", label)
    return label if len(label) <= n else label[: n - 1] + "…"


def trend_chart(labels: Sequence[str], values: Sequence[float], *, unit: str, title: str = "",
                marks: Sequence[ChangeMark] = (), target: float | None = None, highlight: int | None = None,
                width_in: float = 7.0, height_in: float = 2.2) -> str:
    """A metric over runs (oldest first): points joined by a line; dashed verticals at change
    points (red: regression, green: improvement, grey: transient/noise) with their labels; a red
    horizontal line at the target; ``highlight`` (an index, e.g. this run) circled."""
    if len(values) < 2:
        return ""
    with _rc():
        fig = _figure(width_in, height_in)
        ax = fig.add_subplot()
        x = list(range(len(values)))
        ax.plot(x, values, color=BLUE, linewidth=1.2, marker="o", markersize=2.5)
        colour = {"regression": RED, "improvement": GREEN}
        for m in marks:
            if 0 <= m.index < len(values):
                c = colour.get(m.kind, GREY)
                ax.axvline(m.index - 0.5, color=c, linestyle="--", linewidth=1.1)
                ax.annotate(m.label or m.kind, (m.index - 0.5, 0.0), xycoords=("data", "axes fraction"),
                            xytext=(3, 3), textcoords="offset points", color=c, fontsize=7,
                            bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8})
        if target is not None and math.isfinite(target):
            ax.axhline(target, color=RED, linewidth=1.0)
            ax.annotate(f"target {format_value(target, unit)}", (0, target), xytext=(2, 2), textcoords="offset points", color=RED,
                        fontsize=7)
        if highlight is not None and 0 <= highlight < len(values):
            ax.plot([highlight], [values[highlight]], marker="o", markersize=7, markerfacecolor="none",
                    markeredgecolor=DARK)
        ticks = sorted({0, len(values) - 1, *[m.index for m in marks if 0 <= m.index < len(values)]})
        if len(ticks) < 6:
            ticks = sorted(set(ticks) | set(range(0, len(values), max(1, len(values) // 5))))
        ax.set_xticks(ticks, [_short(labels[i]) for i in ticks], rotation=20, ha="right")
        ax.set_ylabel(unit)
        ax.set_xlim(-0.8, len(values) - 0.2)
        if title:
            ax.set_title(title, loc="left")
        return _svg(fig, title or "trend", f"trend-{title}")


def trend_panel(labels: Sequence[str], series: dict[str, Sequence[float]], *, units: dict[str, str] | None = None,
                marks: dict[str, Sequence[ChangeMark]] | None = None, targets: dict[str, float] | None = None,
                title: str = "", width_in: float = 4.8, row_in: float = 1.05) -> str:
    """Several metrics of one benchmark over the same runs (oldest first), one small axis each,
    sharing the run axis: change points dashed (red regression, green improvement), the target as
    a red line, the newest run circled. One figure: a report draws one per benchmark."""
    series = {k: v for k, v in series.items() if len(v) >= 2}
    if not series:
        return ""
    n = max(len(v) for v in series.values())
    colour = {"regression": RED, "improvement": GREEN}
    with _rc():
        fig = _figure(width_in, row_in * len(series) + 0.85, top=0.32, bottom=0.55, left=0.8)
        axes = fig.subplots(len(series), 1, sharex=True, squeeze=False)[:, 0]
        for ax, (name, values) in zip(axes, series.items()):
            x = list(range(n - len(values), n))
            ax.plot(x, values, color=BLUE, linewidth=1.0, marker="o" if len(values) <= 20 else None, markersize=2)
            ax.plot([x[-1]], [values[-1]], marker="o", markersize=6, markerfacecolor="none", markeredgecolor=DARK)
            for m in (marks or {}).get(name, ()):
                c = colour.get(m.kind, GREY)
                ax.axvline(m.index - 0.5, color=c, linestyle="--", linewidth=1.0)
                ax.annotate(m.label or m.kind, (m.index - 0.5, 0.0), xycoords=("data", "axes fraction"),
                            xytext=(2, 2), textcoords="offset points", color=c, fontsize=6.5,
                            bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8})
            target = (targets or {}).get(name)
            if target is not None and math.isfinite(target) and min(values) / 3 <= target <= max(values) * 3:
                ax.axhline(target, color=RED, linewidth=0.9)
            ax.set_title(name + (f" ({(units or {}).get(name)})" if (units or {}).get(name) else ""), loc="left",
                         fontsize=7.5, pad=2)
            ax.tick_params(labelsize=6.5)
        ticks = sorted({0, n - 1, *range(0, n, max(1, n // 4))})
        axes[-1].set_xticks(ticks, [_short(labels[i]) for i in ticks], rotation=20, ha="right")
        axes[-1].set_xlim(-0.8, n - 0.2)
        if title:
            fig.suptitle(title, x=0.01, ha="left", fontsize=8)
        return _svg(fig, title or "trend", f"panel-{title}")


def distribution_chart(values_ms: Sequence[float], *, title: str = "", target_ms: float | None = None,
                       percentiles: dict[str, float] | None = None, bins: int = 40,
                       width_in: float = 3.6, height_in: float = 1.7) -> str:
    """A histogram of observations (ms) clipped at the 99.5th percentile (the count beyond it is
    labelled), dark verticals at the given percentiles, a red one at the target."""
    if len(values_ms) < 2:
        return ""
    xs = sorted(values_ms)
    hi = xs[min(len(xs) - 1, int(0.995 * len(xs)))]
    beyond = sum(v > hi for v in xs)
    with _rc():
        fig = _figure(width_in, height_in)
        ax = fig.add_subplot()
        ax.hist([v for v in xs if v <= hi], bins=bins, color=BLUE, alpha=0.85, histtype="stepfilled")
        for i, (name, v) in enumerate((percentiles or {}).items()):
            if v <= hi * 1.05:
                ax.axvline(v, color=DARK, linewidth=0.9, linestyle=("-", "--", ":")[i % 3], label=f"{name} {format_value(v, 'ms')}")
        if target_ms is not None and target_ms <= hi * 1.5:
            ax.axvline(target_ms, color=RED, linewidth=1.2, label=f"target {format_value(target_ms, 'ms')}")
        if percentiles or target_ms is not None:
            ax.legend(fontsize=6, frameon=False, loc="upper right")
        ax.set_xlabel("ms" + (f" ({beyond} beyond the 99.5th percentile not shown)" if beyond else ""))
        ax.set_yticks([])
        ax.grid(False)
        if title:
            ax.set_title(title, loc="left")
        return _svg(fig, title or f"{len(xs)} observations", f"dist-{title}")


def series_chart(t_s: Sequence[float], series: dict[str, Sequence[float]], *, unit: str, title: str = "",
                 dashed: Sequence[str] = (), width_in: float = 7.0, height_in: float = 2.0) -> str:
    """Several series over time (seconds from the start), e.g. intended vs achieved rate, or
    p50/p95/p99; names in ``dashed`` are drawn dashed (an intended value, a bound)."""
    if len(t_s) < 2 or not any(len(v) for v in series.values()):
        return ""
    colours = [BLUE, RED, GREEN, "#a65e00", "#6a1b9a"]
    with _rc():
        fig = _figure(width_in, height_in)
        ax = fig.add_subplot()
        for i, (name, vs) in enumerate(series.items()):
            pts = [(t, v) for t, v in zip(t_s, vs) if v is not None and math.isfinite(v)]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], color=colours[i % len(colours)], linewidth=1.1,
                        linestyle="--" if name in dashed else "-", label=name)
        ax.set_xlabel("s from the start")
        ax.set_ylabel(unit)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7, frameon=False, loc="best")
        if title:
            ax.set_title(title, loc="left")
        return _svg(fig, title or unit, f"series-{title}")


def bar_chart(names: Sequence[str], values: Sequence[float], *, unit: str, title: str = "",
              colours: Sequence[str] | None = None, width_in: float = 7.0, height_in: float = 2.0) -> str:
    """Horizontal bars (e.g. degradation per stress scenario, p95 per endpoint)."""
    if not values:
        return ""
    with _rc():
        labels = [_short(n, 40) for n in names]
        fig = _figure(width_in, max(height_in, 0.25 * len(values) + 0.9),
                      left=0.2 + 0.07 * max(len(t) for t in labels))  # room for the longest label
        ax = fig.add_subplot()
        ax.set_axisbelow(True)
        ax.barh(list(range(len(values))), list(values), color=list(colours) if colours else BLUE)
        ax.set_yticks(list(range(len(values))), labels)
        ax.invert_yaxis()
        ax.set_xlabel(unit)
        if title:
            ax.set_title(title, loc="left")
        return _svg(fig, title or unit, f"bar-{title}")
