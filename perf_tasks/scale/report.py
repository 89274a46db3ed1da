"""The scalability report: the scaling curve with the USL fit as an inline SVG chart (matplotlib,
no pyplot), and the report sections the scale kind hands to the shared report
(``render_report(sections=...)``)."""
from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

from perf_tasks.scale.usl import usl


def scaling_chart(model: dict[str, Any]) -> str:
    """Knee throughput per size (found knees filled, bounds hollow), the ideal linear line from the
    smallest size, the USL curve when fitted, predictions with their 95 % intervals."""
    from matplotlib.figure import Figure

    rows = model.get("sizes", [])
    if not rows:
        return ""
    fig = Figure(figsize=(5.2, 3.0), dpi=96, layout="constrained")
    ax = fig.add_subplot()
    found = [r for r in rows if r["knee_status"] == "found"]
    bounds = [r for r in rows if r["knee_status"] != "found" and r["knee_throughput_per_s"]]
    ax.plot([r["size"] for r in found], [r["knee_throughput_per_s"] for r in found], "o", color="#1a5fb4",
            label="knee (measured)")
    if bounds:
        ax.plot([r["size"] for r in bounds], [r["knee_throughput_per_s"] for r in bounds], "o", mfc="none",
                color="#888888", label="lower bound (knee not bracketed)")
    u = model.get("usl", {})
    preds = u.get("predictions", [])
    top = max([r["size"] for r in rows] + [p["n"] for p in preds])
    if found:
        base = found[0]
        per = base["knee_throughput_per_s"] / base["size"]
        ax.plot([1, top], [per, per * top], "--", color="#888888", lw=0.8, label="linear (ideal)")
    if u.get("fitted") and u.get("lam"):
        xs = [1 + i * (top - 1) / 100 for i in range(101)]
        ax.plot(xs, [float(usl(x, u["lam"], u["sigma"], u["kappa"])) for x in xs], "-", color="#2e7d32", lw=1,
                label=f"USL σ={u['sigma']:.3g} κ={u['kappa']:.3g}")
    if preds:
        ax.errorbar([p["n"] for p in preds], [p["throughput"] for p in preds],
                    yerr=[[p["throughput"] - p["low"] for p in preds], [p["high"] - p["throughput"] for p in preds]],
                    fmt="s", color="#b00020", ms=3, capsize=2, label="prediction (95 %)")
    ax.set_xlabel(f"{model.get('axis', 'size')}")
    ax.set_ylabel("throughput at the knee (req/s)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=6, loc="upper left")
    buf = io.StringIO()
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": "scale", "svg.fonttype": "none", "font.size": 7}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    return text[text.index("<svg"):].replace("<svg ", '<svg role="img" class="chart" ', 1)


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.{digits}g}"
    return str(v)


def sections(models: dict[str, Any], folder: Path) -> list[dict[str, Any]]:
    out = []
    for axis, m in models.items():
        svg = folder / f"{axis}.svg"
        factors = {f["size"]: f for f in m.get("factors", [])}
        table = []
        for r in m["sizes"]:
            f = factors.get(r["size"], {})
            table.append({"size": r["size"], "balancer": r["balancer"], "knee": r["knee_status"],
                          "throughput/s": _fmt(r["knee_throughput_per_s"]), "p99 ms": _fmt(r["knee_p99_ms"]),
                          "efficiency": _fmt(f.get("efficiency"), 3),
                          "latency factor": _fmt(f.get("latency_factor"), 3),
                          "req per CPU-core-s": _fmt(r["throughput_per_cpu_core"]),
                          "USD / 1M tx": _fmt(r["cost_per_transaction"] * 1e6 if r["cost_per_transaction"] else None),
                          "limited by": r["limited_by"] or "-", "why": r["limited_reason"] or r["note"]})
        u = m["usl"]
        if u.get("fitted"):
            text = (f"USL fit over {u['points']} size(s): lambda {_fmt(u['lam'])}/s, sigma {_fmt(u['sigma'], 3)} "
                    f"+- {_fmt(u['sigma_se'], 2)}, kappa {_fmt(u['kappa'], 3)} +- {_fmt(u['kappa_se'], 2)}, "
                    f"R^2 {_fmt(u['r2'], 3)}, peak N* {_fmt(u.get('peak_n'), 3)}. ")
        else:
            text = f"No USL fit: {u['reason']}. "
        if u.get("predictions"):
            text += "Predicted: " + ", ".join(f"N={p['n']:g}: {p['throughput']:.0f}/s [{p['low']:.0f}, {p['high']:.0f}]"
                                              for p in u["predictions"]) + ". "
        elif u.get("refused"):
            text += u["refused"] + ". "
        claim = u["linear_claim"]
        text += f"Linear up to {claim['n']:g}: {claim['verdict']} ({claim['reason']})."
        if m.get("excluded"):
            text += " Left out of the model: " + "; ".join(f"size {e['size']}: {e['reason']}" for e in m["excluded"])
        out.append({"title": f"Scalability: {axis}", "id": f"scale-{axis}", "text": text,
                    "html": svg.read_text() if svg.exists() else "", "table": table})
    return out
