"""From the knees of several sizes to the capacity model: scaling factors, scaling efficiency,
resource-utilisation efficiency, cost per transaction, the USL fit and its predictions, and the
verdict on a "linear up to N" claim. Pure: no I/O.

Only a size whose knee was *found* (bracketed by a passing and a failing valid point) enters the
factors and the fit; a knee that is only a lower bound (beyond the sweep, or stopped by the
generator) or missing is listed with the reason it was left out.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from perf_tasks.scale.sweep import Knee
from perf_tasks.scale.usl import cost_per_transaction, fit_usl


@dataclass(frozen=True)
class SizeResult:
    axis: str  # "instances" | "cores"
    size: int  # N on that axis
    cores: float  # cores the instances could use (the cost basis)
    knee: Knee
    balancer: str = ""  # "haproxy", "multi-worker (HAProxy not installed)", "none (one instance)", "urls"
    notes: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def knee_cpu_cores(knee: Knee) -> float | None:
    """Cores the instances used at the knee point (their CPU % / 100), when sampled."""
    for p in knee.points:
        if p.valid and p.meets_targets and p.rate_per_s == knee.rate_per_s:
            v = p.resources.get("service_cpu_pct_mean")
            return v / 100.0 if v else None
    return None


def analyse_axis(results: Sequence[SizeResult], *, cost_per_core_hour: float, predict: Sequence[int] = (10, 20, 50),
                 linear_claim_n: float = 10.0, min_efficiency: float = 0.9) -> dict[str, Any]:
    """The model of one axis (all ``results`` share it)."""
    if cost_per_core_hour < 0 or not math.isfinite(cost_per_core_hour):
        raise ValueError(f"cost_per_core_hour must be a finite number >= 0, got {cost_per_core_hour!r}")
    rows, used, excluded = [], [], []
    for r in sorted(results, key=lambda r: r.size):
        k = r.knee
        cpu = knee_cpu_cores(k)
        cost = cost_per_transaction(k.throughput_per_s, r.cores, cost_per_core_hour) if k.throughput_per_s else math.inf
        row = {"size": r.size, "cores": r.cores, "balancer": r.balancer, "knee_status": k.status,
               "knee_throughput_per_s": k.throughput_per_s, "knee_rate_per_s": k.rate_per_s,
               "knee_p99_ms": k.p99_ms if math.isfinite(k.p99_ms) else None, "note": k.note,
               "limited_by": k.limited_by, "limited_reason": k.limited_reason,
               "cpu_cores_used_at_knee": cpu,
               "throughput_per_cpu_core": (k.throughput_per_s / cpu) if cpu else None,
               "cost_per_transaction": cost if math.isfinite(cost) else None,
               "transactions_per_dollar": (1.0 / cost) if cost and math.isfinite(cost) and cost > 0 else None,
               "points": len(k.points), "invalid_points": sum(1 for p in k.points if not p.valid),
               "notes": list(r.notes)}
        rows.append(row)
        if k.status == "found" and k.throughput_per_s > 0:
            used.append(r)
        else:
            excluded.append({"size": r.size, "reason": f"knee {k.status}: {k.note}"})
    out: dict[str, Any] = {"axis": results[0].axis if results else "", "sizes": rows, "excluded": excluded,
                           "cost_per_core_hour": cost_per_core_hour}
    if used:
        base = used[0]
        base_x, base_n = base.knee.throughput_per_s, base.size
        base_p99 = base.knee.p99_ms
        base_rue = knee_cpu_cores(base.knee)
        factors = []
        for r in used:
            x = r.knee.throughput_per_s
            cpu = knee_cpu_cores(r.knee)
            factors.append({
                "size": r.size, "throughput_factor": x / base_x,
                "efficiency": x / (r.size / base_n * base_x),
                "latency_factor": (r.knee.p99_ms / base_p99) if base_p99 and math.isfinite(r.knee.p99_ms) else None,
                # throughput per CPU core used, relative to the smallest size: 1 = no CPU lost to scaling
                "resource_efficiency": ((x / cpu) / (base_x / base_rue)) if cpu and base_rue else None})
        out["factors"] = factors
    out["usl"] = usl_summary([r.size for r in used], [r.knee.throughput_per_s for r in used], predict=predict,
                             linear_claim_n=linear_claim_n, min_efficiency=min_efficiency)
    return out


def usl_summary(sizes: Sequence[float], throughputs: Sequence[float], *, predict: Sequence[int] = (10, 20, 50),
                linear_claim_n: float = 10.0, min_efficiency: float = 0.9) -> dict[str, Any]:
    """The USL fit with its uncertainty, predictions with 95 % intervals, peak N*, and the linear
    claim's verdict; a refusal (with the reason) wherever the points cannot support them."""
    distinct = len(set(float(n) for n in sizes))
    if distinct < 3:
        return {"fitted": False, "points": len(sizes), "measured_sizes": list(map(float, sizes)),
                "measured_throughputs": list(throughputs),
                "reason": f"{distinct} size(s) with a found knee cannot determine the USL's 3 parameters (lambda, "
                          f"sigma, kappa): it needs at least 3 sizes to fit and {4} to extrapolate",
                "predictions": [],
                "linear_claim": {"n": linear_claim_n, "verdict": "not judged",
                                 "reason": "no capacity model could be fitted"}}
    fit = fit_usl(sizes, throughputs)
    d = {k: v for k, v in asdict(fit).items() if k != "_cov"}
    d = {k: (v if not (isinstance(v, float) and not math.isfinite(v)) else None) for k, v in d.items()}
    out: dict[str, Any] = {"fitted": True, **d, "peak_n": fit.peak_n if math.isfinite(fit.peak_n) else None,
                           "measured_sizes": list(map(float, sizes)), "measured_throughputs": list(throughputs)}
    max_n = max(sizes)
    if fit.extrapolate:
        out["predictions"] = [asdict(p) for p in fit.predict(list(predict), max_measured=max_n)]
        ok, why = fit.linear_up_to(linear_claim_n, min_efficiency=min_efficiency)
        out["linear_claim"] = {"n": linear_claim_n, "verdict": "holds" if ok else "does not hold", "reason": why}
    else:
        out["predictions"] = []
        out["refused"] = f"no prediction beyond N={max_n:g}: {fit.reason}"
        out["linear_claim"] = {"n": linear_claim_n, "verdict": "not judged",
                               "reason": f"the fit may not extrapolate to N={linear_claim_n:g}: {fit.reason}"}
    return out
