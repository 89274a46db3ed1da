"""Capacity model: the Universal Scalability Law fitted to measured (size, throughput) points.

    X(N) = lambda * N / (1 + sigma * (N - 1) + kappa * N * (N - 1))

lambda: throughput of one unit (instance, core); sigma: contention (serialised share, 0..1);
kappa: coherency (crosstalk between units). Peak at N* = sqrt((1 - sigma) / kappa). Fitted with
``scipy.optimize.curve_fit`` (bounded trust-region, relative errors), parameter uncertainty from
its covariance; predictions carry an interval from sampling the parameters (multivariate normal;
the slowdown term clipped at 0) and the points' relative scatter around the curve. A poor fit is refused
for extrapolation, with the reason (too few points, low R^2, or parameters the data cannot pin
down). Pure: no I/O.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

MIN_POINTS = 4
MIN_R2 = 0.9
MAX_REL_SE = 1.0  # a parameter whose standard error exceeds its value is not pinned down (lambda, and
# sigma/kappa when they matter: see MIN_EFFECT)
# sigma or kappa whose term adds less than this to the denominator at the largest measured size
# (sigma (N - 1), kappa N (N - 1)) is "no measurable effect": consistent with 0, its uncertainty is
# carried into the prediction interval instead of refusing (a linear system fits kappa ~ 0 +- more)
MIN_EFFECT = 0.01


def usl(n: np.ndarray | float, lam: float, sigma: float, kappa: float) -> np.ndarray | float:
    n = np.asarray(n, dtype=float)
    return lam * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))


@dataclass(frozen=True)
class Prediction:
    n: float
    throughput: float
    low: float  # 95 % interval
    high: float


@dataclass(frozen=True)
class UslFit:
    lam: float
    sigma: float
    kappa: float
    lam_se: float
    sigma_se: float
    kappa_se: float
    r2: float
    points: int
    scatter: float  # relative standard deviation of the points around the fitted curve
    extrapolate: bool = True  # False: predictions beyond the measured sizes are refused (see ``reason``)
    reason: str = ""
    _cov: tuple[tuple[float, ...], ...] = ()

    @property
    def peak_n(self) -> float:
        """N* = sqrt((1 - sigma) / kappa); infinite when kappa is 0 (no retrograde region)."""
        return math.inf if self.kappa <= 0 else math.sqrt(max(0.0, 1.0 - self.sigma) / self.kappa)

    def efficiency(self, n: float) -> float:
        """X(N) / (N * X(1)): 1 is linear scaling."""
        return float(usl(n, self.lam, self.sigma, self.kappa) / (n * usl(1.0, self.lam, self.sigma, self.kappa)))

    def predict(self, sizes: Sequence[float], *, max_measured: float, draws: int = 4000,
                seed: int = 0) -> list[Prediction]:
        """Throughput at ``sizes`` with a 95 % interval; sizes beyond ``max_measured`` need a fit
        that may extrapolate (raises ValueError with the reason otherwise)."""
        beyond = [n for n in sizes if n > max_measured]
        if beyond and not self.extrapolate:
            raise ValueError(f"refusing to extrapolate to N={beyond}: {self.reason}")
        from scipy.stats import t as student_t

        rng = np.random.default_rng(seed)
        mean = np.array([self.lam, self.sigma, self.kappa])
        # few points: widen the normal approximation to Student t with n - 3 degrees of freedom
        widen = float(student_t.ppf(0.975, max(1, self.points - 3)) / 1.959964)
        cov = (np.array(self._cov) if self._cov else np.zeros((3, 3))) * widen ** 2
        samples = rng.multivariate_normal(mean, cov, size=draws, check_valid="ignore", method="eigh")
        lam = np.clip(samples[:, 0], 1e-12, None)
        out = []
        for n in sizes:
            n = float(n)
            # the slowdown term sigma (N - 1) + kappa N (N - 1) from the joint draw, clipped at 0 (nothing
            # scales better than linearly): sigma and kappa are strongly anti-correlated near 0, so
            # clipping each on its own would cut off the linear end of the interval
            slowdown = np.clip(samples[:, 1] * (n - 1.0) + samples[:, 2] * n * (n - 1.0), 0.0, None)
            xs = lam * n / (1.0 + slowdown) * rng.normal(1.0, self.scatter * widen, draws)
            out.append(Prediction(n, float(usl(n, *mean)), float(np.percentile(xs, 2.5)),
                                  float(np.percentile(xs, 97.5))))
        return out

    def linear_up_to(self, n: float, *, min_efficiency: float = 0.9) -> tuple[bool, str]:
        """Judge a claim like "linear scaling up to 10x": efficiency at ``n`` >= ``min_efficiency``."""
        e = self.efficiency(n)
        ok = e >= min_efficiency
        return ok, (f"efficiency at N={n:g} is {e:.2f} ({'>=' if ok else '<'} {min_efficiency:g}): "
                    f"{'linear enough' if ok else 'not linear'} (sigma {self.sigma:.3g}, kappa {self.kappa:.3g}, "
                    f"peak N* {self.peak_n:.1f})")


def fit_usl(sizes: Sequence[float], throughputs: Sequence[float]) -> UslFit:
    """Fit the USL to measured points (sizes >= 1, throughputs > 0; at least MIN_POINTS distinct
    sizes for an extrapolating fit). Raises ValueError for unusable input, naming it."""
    n = np.asarray(sizes, dtype=float)
    x = np.asarray(throughputs, dtype=float)
    if n.shape != x.shape or n.size < 2:
        raise ValueError(f"need matching sizes and throughputs, at least 2 points; got {n.size} and {x.size}")
    if not (np.all(np.isfinite(n)) and np.all(np.isfinite(x))) or np.any(n < 1) or np.any(x <= 0):
        raise ValueError(f"sizes must be >= 1 and throughputs > 0 and finite; got sizes {n.tolist()}, "
                         f"throughputs {x.tolist()}")
    lam0 = float(np.max(x[n == n.min()]) / n.min())
    # relative errors (sigma = x): throughput noise is multiplicative, so the large sizes must not
    # dominate the fit (measured on synthetic data: absolute weights biased kappa by 25 % at 1 % noise)
    with warnings.catch_warnings():  # an undetermined covariance is reported through ``reason``
        warnings.simplefilter("ignore", OptimizeWarning)
        params, cov = curve_fit(usl, n, x, p0=[lam0, 0.02, 0.001], bounds=([1e-12, 0.0, 0.0], [np.inf, 1.0, np.inf]),
                                sigma=x, method="trf", maxfev=20000)
    lam, sigma, kappa = (float(p) for p in params)
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None)) if np.all(np.isfinite(cov)) else np.full(3, np.inf)
    resid = x - usl(n, lam, sigma, kappa)
    ss_tot = float(np.sum((x - x.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid ** 2)) / ss_tot if ss_tot > 0 else 0.0
    reasons = []
    distinct = len(set(n.tolist()))
    if distinct < MIN_POINTS:
        reasons.append(f"only {distinct} distinct sizes (need >= {MIN_POINTS})")
    if r2 < MIN_R2:
        reasons.append(f"R^2 {r2:.2f} < {MIN_R2}")
    if not math.isfinite(se[0]) or se[0] > MAX_REL_SE * lam:
        reasons.append(f"lambda {lam:.4g} +- {se[0]:.3g} is not pinned down")
    top = float(n.max())
    for name, value, err, effect in (("sigma", sigma, se[1], sigma * (top - 1.0)),
                                     ("kappa", kappa, se[2], kappa * top * (top - 1.0))):
        if not math.isfinite(err) or (value > 1e-4 and effect >= MIN_EFFECT and err > MAX_REL_SE * value):
            reasons.append(f"{name} {value:.3g} +- {err:.3g} is not pinned down")
    cov_t = tuple(tuple(float(v) for v in row) for row in (cov if np.all(np.isfinite(cov)) else np.zeros((3, 3))))
    scatter = float(np.std(resid / x, ddof=min(3, n.size - 1))) if n.size > 3 else 0.0
    return UslFit(lam, sigma, kappa, float(se[0]), float(se[1]), float(se[2]), r2, int(n.size), scatter,
                  not reasons, "; ".join(reasons), cov_t)


def scaling_factors(sizes: Sequence[float], throughputs: Sequence[float]) -> list[dict[str, float]]:
    """Per measured size: throughput scaling factor X(N)/X(1) and efficiency X(N)/(N X(1))."""
    pairs = sorted(zip(sizes, throughputs))
    base_n, base_x = pairs[0]
    per_unit = base_x / base_n
    return [{"n": float(n), "throughput": float(x), "factor": float(x / base_x),
             "efficiency": float(x / (n * per_unit))} for n, x in pairs]


def cost_per_transaction(throughput_per_s: float, cores: float, cost_per_core_hour: float) -> float:
    """Dollars per transaction at a sustained throughput on ``cores`` cores."""
    if throughput_per_s <= 0:
        return math.inf
    return cores * cost_per_core_hour / (throughput_per_s * 3600.0)
