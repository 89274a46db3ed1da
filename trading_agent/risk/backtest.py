"""VaR backtests: Kupiec proportion-of-failures, Christoffersen independence and conditional
coverage, and a rolling one-day VaR backtest over a daily return series.

Conventions: a *breach* (hit) is a day whose realised loss exceeds that day's VaR forecast.
``coverage`` is the breach probability the model promises, ``1 - confidence`` (0.01 for 99 %
VaR). Likelihood terms use ``0 * ln 0 = 0`` (``scipy.special.xlogy``), so zero breaches, all
breaches and rows of the transition table that never occur are all testable. Everything here
is a pure function of arrays: no I/O, no clock.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.special import xlogy
from scipy.stats import chi2, norm

Model = Literal["historical", "parametric"]
MODELS: tuple[str, ...] = ("historical", "parametric")


def _check_coverage(coverage: float) -> None:
    if not 0.0 < coverage < 1.0:
        raise ValueError(f"coverage (breach probability) must be in (0, 1), got {coverage!r}")


def _clip_lr(lr: float) -> float:
    """LRs are >= 0; clip the -1e-16 (or -0.0) that rounding gives when the estimates equal H0's."""
    return float(lr) if lr > 0.0 else 0.0


def _as_hits(hits: np.ndarray) -> np.ndarray:
    """A 1-D boolean breach indicator; refuses values other than 0/1 (naming the first)."""
    a = np.asarray(hits)
    if a.ndim != 1:
        raise ValueError(f"breach indicator must be 1-D, got shape {a.shape}")
    if a.dtype != bool:
        bad = a[(a != 0) & (a != 1)]
        if bad.size:
            raise ValueError(f"breach indicator must hold only 0/1, got {bad[0]!r}")
        a = a.astype(bool)
    return a


@dataclass(frozen=True)
class KupiecResult:
    """Kupiec (1995) proportion-of-failures test: H0 breach probability == ``coverage``.

    ``lr`` is chi-square with 1 dof under H0; ``p_value`` = P(chi2_1 >= lr).
    """

    n_obs: int
    n_breaches: int
    coverage: float
    lr: float
    p_value: float

    def __post_init__(self) -> None:
        if not (0 <= self.n_breaches <= self.n_obs and self.lr >= 0 and 0 <= self.p_value <= 1):
            raise ValueError(f"inconsistent KupiecResult: {self!r}")

    @property
    def expected_breaches(self) -> float:
        return self.n_obs * self.coverage


def kupiec_pof(n_breaches: int, n_obs: int, coverage: float) -> KupiecResult:
    """LR_pof = -2 ln[(1-p)^(T-x) p^x] + 2 ln[(1-x/T)^(T-x) (x/T)^x], with 0 ln 0 = 0.

    Finite for x = 0 (LR = -2 T ln(1-p)) and for x = T (LR = -2 T ln p).
    """
    _check_coverage(coverage)
    if n_obs < 1:
        raise ValueError(f"n_obs must be >= 1, got {n_obs}")
    if not 0 <= n_breaches <= n_obs:
        raise ValueError(f"n_breaches must be in [0, n_obs={n_obs}], got {n_breaches}")
    x, t = n_breaches, n_obs
    phat = x / t
    log_l0 = xlogy(t - x, 1.0 - coverage) + xlogy(x, coverage)
    log_l1 = xlogy(t - x, 1.0 - phat) + xlogy(x, phat)
    lr = _clip_lr(-2.0 * (log_l0 - log_l1))
    return KupiecResult(n_obs=t, n_breaches=x, coverage=coverage, lr=lr, p_value=float(chi2.sf(lr, 1)))


@dataclass(frozen=True)
class IndependenceResult:
    """Christoffersen (1998) independence test on the breach indicator's first-order Markov chain.

    ``nij`` counts day-to-day transitions from state i to state j (1 = breach) over the T - 1
    consecutive pairs. H0: P(breach | breach yesterday) == P(breach | none yesterday).
    ``lr`` is chi-square with 1 dof under H0. When there are no breaches (or only breaches)
    both conditional probabilities equal the pooled one and ``lr`` is exactly 0 (p-value 1):
    the data carry no evidence against independence. With breaches but none consecutive
    (n11 = 0), pi1 = 0 and ``lr`` is finite (> 0 when breaches avoid each other).
    """

    n00: int
    n01: int
    n10: int
    n11: int
    lr: float
    p_value: float

    def __post_init__(self) -> None:
        if min(self.n00, self.n01, self.n10, self.n11) < 0 or self.lr < 0 or not 0 <= self.p_value <= 1:
            raise ValueError(f"inconsistent IndependenceResult: {self!r}")

    @property
    def pi0(self) -> float:
        """P(breach | no breach yesterday); 0 when no day without a breach is followed by a day."""
        row = self.n00 + self.n01
        return self.n01 / row if row else 0.0

    @property
    def pi1(self) -> float:
        """P(breach | breach yesterday); 0 when no breach is followed by a day (empty row)."""
        row = self.n10 + self.n11
        return self.n11 / row if row else 0.0


def transition_counts(hits: np.ndarray) -> tuple[int, int, int, int]:
    """(n00, n01, n10, n11) over consecutive pairs of a breach indicator of length >= 2."""
    h = _as_hits(hits)
    if h.size < 2:
        raise ValueError(f"need at least 2 days for transition counts, got {h.size}")
    prev, nxt = h[:-1], h[1:]
    n11 = int(np.count_nonzero(prev & nxt))
    n01 = int(np.count_nonzero(~prev & nxt))
    n10 = int(np.count_nonzero(prev & ~nxt))
    n00 = h.size - 1 - n01 - n10 - n11
    return n00, n01, n10, n11


def christoffersen_independence(hits: np.ndarray) -> IndependenceResult:
    """LR_ind = -2 ln[(1-pi)^(n00+n10) pi^(n01+n11)]
               + 2 ln[(1-pi0)^n00 pi0^n01 (1-pi1)^n10 pi1^n11], with 0 ln 0 = 0.

    pi0 = n01/(n00+n01), pi1 = n11/(n10+n11), pi = (n01+n11)/(T-1); an empty row contributes 0.
    """
    n00, n01, n10, n11 = transition_counts(hits)
    n = n00 + n01 + n10 + n11
    pi = (n01 + n11) / n
    pi0 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi1 = n11 / (n10 + n11) if n10 + n11 else 0.0
    log_l0 = xlogy(n00 + n10, 1.0 - pi) + xlogy(n01 + n11, pi)
    log_l1 = xlogy(n00, 1.0 - pi0) + xlogy(n01, pi0) + xlogy(n10, 1.0 - pi1) + xlogy(n11, pi1)
    lr = _clip_lr(-2.0 * (log_l0 - log_l1))
    return IndependenceResult(n00=n00, n01=n01, n10=n10, n11=n11, lr=lr, p_value=float(chi2.sf(lr, 1)))


@dataclass(frozen=True)
class ConditionalCoverageResult:
    """Christoffersen conditional coverage: LR_cc = LR_pof + LR_ind, chi-square with 2 dof.

    As is common practice, LR_pof is taken over all T days and LR_ind over the T - 1 pairs.
    """

    kupiec: KupiecResult
    independence: IndependenceResult
    lr: float
    p_value: float


def conditional_coverage(hits: np.ndarray, coverage: float) -> ConditionalCoverageResult:
    """Kupiec, Christoffersen independence and their sum, from one breach indicator."""
    h = _as_hits(hits)
    pof = kupiec_pof(int(np.count_nonzero(h)), h.size, coverage)
    ind = christoffersen_independence(h)
    lr = pof.lr + ind.lr
    return ConditionalCoverageResult(kupiec=pof, independence=ind, lr=lr, p_value=float(chi2.sf(lr, 2)))


def rolling_var_forecasts(returns: np.ndarray, *, model: Model, confidence: float,
                          window_days: int) -> np.ndarray:
    """One-day VaR forecasts for days ``window_days .. T-1`` as positive loss fractions of value.

    The forecast for day t uses only ``returns[t - window_days : t]`` (daily log returns), so it
    is out of sample. ``historical``: the ``1 - confidence`` quantile of the window's simple
    returns, negated (as :func:`trading_agent.risk.var.historical_var`). ``parametric``:
    ``z * sigma - mu`` of the window's log returns, sample std (ddof=1) (as
    :func:`trading_agent.risk.var.parametric_var`). Length: ``T - window_days``.
    """
    r = np.asarray(returns, dtype=float)
    if r.ndim != 1:
        raise ValueError(f"returns must be 1-D daily log returns, got shape {r.shape}")
    if not 0.5 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0.5, 1), got {confidence!r}")
    if not 2 <= window_days < r.size:
        raise ValueError(f"window_days must be in [2, {r.size - 1}] for {r.size} returns, got {window_days}")
    if not np.isfinite(r).all():
        raise ValueError(f"returns contain non-finite values at index {int(np.flatnonzero(~np.isfinite(r))[0])}")
    windows = sliding_window_view(r[:-1], window_days)  # row k forecasts day k + window_days
    if model == "historical":
        return -np.quantile(np.expm1(windows), 1.0 - confidence, axis=1)
    if model == "parametric":
        return norm.ppf(confidence) * windows.std(axis=1, ddof=1) - windows.mean(axis=1)
    raise ValueError(f"unknown VaR model {model!r}; expected one of {MODELS}")


@dataclass(frozen=True)
class VarBacktestResult:
    """A rolling one-day VaR backtest: forecasts vs realised losses, and the three LR tests.

    ``breach_positions`` index the input return series (day t breached). Verdicts are at
    significance ``alpha``: ``*_rejected`` True means the model fails that test.
    """

    model: str
    confidence: float
    window_days: int
    n_obs: int
    n_breaches: int
    breach_positions: tuple[int, ...]
    coverage_test: ConditionalCoverageResult
    alpha: float = 0.05

    def __post_init__(self) -> None:
        if not len(self.breach_positions) == self.n_breaches == self.coverage_test.kupiec.n_breaches:
            raise ValueError(f"breach count {self.n_breaches} disagrees with positions/tests in {self.model}")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha!r}")

    @property
    def expected_breaches(self) -> float:
        return self.n_obs * (1.0 - self.confidence)

    @property
    def breach_rate(self) -> float:
        return self.n_breaches / self.n_obs

    @property
    def kupiec(self) -> KupiecResult:
        return self.coverage_test.kupiec

    @property
    def independence(self) -> IndependenceResult:
        return self.coverage_test.independence

    @property
    def pof_rejected(self) -> bool:
        return self.kupiec.p_value < self.alpha

    @property
    def independence_rejected(self) -> bool:
        return self.independence.p_value < self.alpha

    @property
    def cc_rejected(self) -> bool:
        return self.coverage_test.p_value < self.alpha


def backtest_var(returns: np.ndarray, *, model: Model = "historical", confidence: float = 0.99,
                 window_days: int = 250, alpha: float = 0.05) -> VarBacktestResult:
    """Roll ``model`` over daily log ``returns``; a breach is a realised simple loss
    ``-expm1(r_t)`` strictly above that day's forecast. ``n_obs = len(returns) - window_days``.
    """
    r = np.asarray(returns, dtype=float)
    var = rolling_var_forecasts(r, model=model, confidence=confidence, window_days=window_days)
    hits = -np.expm1(r[window_days:]) > var
    test = conditional_coverage(hits, 1.0 - confidence)
    positions = tuple(int(i) + window_days for i in np.flatnonzero(hits))
    return VarBacktestResult(model=model, confidence=confidence, window_days=window_days, n_obs=hits.size,
                             n_breaches=len(positions), breach_positions=positions, coverage_test=test,
                             alpha=alpha)
