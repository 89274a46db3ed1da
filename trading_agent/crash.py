"""A market crash pushed through the trading pipeline: ticks -> features -> risk -> alerts -> orders.

:func:`simulate` replays a seeded session for a long-only book: ``normal_s`` seconds of ordinary
one-second bars per symbol, then a crash of ``crash_s`` seconds in which every symbol falls by
``shock_pct`` (a common factor plus a little noise) while the feed carries ``volume_mult`` times
as many records per second (the volume surge). Each record goes through the real parts:

- :class:`~trading_agent.data_pipeline.realtime.StreamProcessor` (validation and features);
- once per simulated second, :func:`~trading_agent.risk.limits.check_limits` on the book at the
  latest marks (gross/net exposure, concentration, VaR, drawdown, order rate) and
  :func:`~trading_agent.risk.alerts.alerts_from_breaches`;
- on a CRITICAL alert, de-risking: the desk sells ``derisk_pct`` of each position with a market
  order through an in-memory :class:`~trading_agent.trading.engine.OrderEngine` (a maker's bid
  rests at the mark so it can fill), at most once per simulated second.

It returns per-record, per-check and per-order latencies (wall seconds, single observations),
the breaches and alerts raised, when the first CRITICAL alert came (feed seconds after the crash
began), and VaR figures under stress for accuracy checks (:func:`stressed_var`). Everything is a
function of its arguments (seeded); only the latencies depend on the machine.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from trading_agent.data import synthetic_portfolio, synthetic_returns
from trading_agent.data_pipeline.realtime import StreamProcessor
from trading_agent.risk.alerts import Severity, alerts_from_breaches
from trading_agent.risk.limits import PortfolioState, RiskLimits, check_limits
from trading_agent.risk.var import historical_var, monte_carlo_var, parametric_var
from trading_agent.trading.engine import OrderEngine
from trading_agent.trading.model import Instrument, Order, OrderType, Side
from trading_agent.trading.model import RiskLimits as EngineLimits

BOOK = "desk"
MAKER = "maker"


@dataclass
class CrashRun:
    """What one simulated crash produced (see the module docstring). Latencies in seconds."""

    shock_pct: float
    volume_mult: int
    records: int
    records_rejected: int
    record_latency_s: np.ndarray
    check_latency_s: np.ndarray
    order_latency_s: np.ndarray
    breaches_normal: int  # limit breaches raised before the crash began
    breaches_crash: int  # during and after it
    alerts_critical: int
    first_critical_after_s: float | None  # feed seconds from the crash start to the first CRITICAL alert
    first_critical_wall_ms: float | None  # wall ms from processing the first crash record to that alert
    orders: int
    orders_filled: int
    orders_rejected: int
    drawdown_pct: float  # of the book at the end
    elapsed_s: float
    breach_names: dict[str, int] = field(default_factory=dict)


def default_limits(value: float) -> RiskLimits:
    """Limits of the desk, relative to its opening value: a 99 % VaR of 4 % and a 10 % drawdown."""
    return RiskLimits(max_gross_exposure=1.5 * value, max_net_exposure=1.2 * value,
                      max_position_notional=0.5 * value, max_concentration_pct=50.0, max_var=0.04 * value,
                      max_drawdown_pct=10.0, max_orders_per_window=1000, order_window_s=1.0)


def simulate(shock_pct: float = -20.0, volume_mult: int = 5, *, n_symbols: int = 20, normal_s: int = 120,
             crash_s: int = 30, seed: int = 7, value: float = 10_000_000.0, derisk_pct: float = 25.0) -> CrashRun:
    if not -95.0 <= shock_pct < 0.0:
        raise ValueError(f"shock_pct must be in [-95, 0), got {shock_pct!r}")
    if not (isinstance(volume_mult, int) and 1 <= volume_mult <= 100):
        raise ValueError(f"volume_mult must be an integer in [1, 100], got {volume_mult!r}")
    rng = np.random.default_rng(seed)
    pf = synthetic_portfolio(n_symbols, seed, value=value)
    syms = pf.symbols
    cov_simple = np.cov(np.expm1(synthetic_returns(pf, 250, seed + 1)), rowvar=False).reshape(n_symbols, n_symbols)
    price0 = rng.uniform(20.0, 200.0, n_symbols).round(2)
    qty = np.floor(pf.weights * value / price0 / 100.0) * 100.0
    cash = value - float(qty @ price0)
    limits = default_limits(value)
    engine = OrderEngine([Instrument(s, 0.01) for s in syms], None,
                         limits=EngineLimits(max_order_quantity=10_000_000, max_notional=1e12,
                                             max_position=100_000_000))
    for s, q, p in zip(syms, qty, price0):
        engine.positions.apply(BOOK, s, int(q), float(p))
    proc = StreamProcessor()
    bar_sigma = np.sqrt(np.diag(pf.cov)) / np.sqrt(23_400.0)  # a day's vol spread over 6.5 h of seconds
    prices = price0.astype(float).copy()
    total_s = normal_s + crash_s
    crash_step = np.log1p(shock_pct / 100.0) / crash_s  # the common factor's log fall per second
    rec_lat, chk_lat, ord_lat = [], [], []
    breaches_normal = breaches_crash = alerts_critical = orders = filled = rejected = 0
    first_alert_s = first_alert_wall = None
    t_crash_wall = None
    peak = equity = value
    names: dict[str, int] = {}
    order_times: list[float] = []
    last_derisk = -1
    t0 = time.perf_counter()
    ts0 = 1_700_000_000 * 10**9
    for sec in range(total_s):
        crashing = sec >= normal_s
        per_sec = volume_mult if crashing else 1
        for k in range(per_sec):
            drift = crash_step / per_sec if crashing else 0.0
            noise = rng.standard_normal(n_symbols) * bar_sigma * (3.0 if crashing else 1.0) / np.sqrt(per_sec)
            new = np.maximum(prices * np.exp(drift + noise), 0.01)
            ts = ts0 + sec * 10**9 + k * (10**9 // per_sec)
            if crashing and t_crash_wall is None:
                t_crash_wall = time.perf_counter()
            for i, s in enumerate(syms):
                o, c = prices[i], new[i]
                rec = {"symbol": s, "timestamp": ts, "open": o, "high": max(o, c), "low": min(o, c), "close": c,
                       "volume": int(rng.integers(1, 50)) * 100 * (5 if crashing else 1)}
                r0 = time.perf_counter()
                proc.on_record(rec)
                rec_lat.append(time.perf_counter() - r0)
            prices = new
        # -- risk, once per simulated second ------------------------------------------------
        c0 = time.perf_counter()
        marks = np.round(prices, 2)
        held = np.array([engine.positions.quantity(BOOK, s) for s in syms], dtype=float)
        equity = cash + float(held @ marks)
        peak = max(peak, equity)
        if equity <= 0:
            break  # the book is wiped out: nothing left to judge
        state = PortfolioState(syms, held, marks, cov_simple, equity, peak, np.array(order_times[-1000:]))
        res = check_limits(state, limits, float(sec))
        alerts = alerts_from_breaches(res.breaches, float(sec), portfolio=BOOK)
        chk_lat.append(time.perf_counter() - c0)
        for b in res.breaches:
            names[b.limit] = names.get(b.limit, 0) + 1
        if crashing:
            breaches_crash += len(res.breaches)
        else:
            breaches_normal += len(res.breaches)
        critical = [a for a in alerts if a.severity is Severity.CRITICAL]
        alerts_critical += len(critical)
        if critical and crashing and first_alert_s is None:
            first_alert_s = float(sec - normal_s + 1)  # the check runs at the end of the second
            first_alert_wall = 1000.0 * (time.perf_counter() - (t_crash_wall or c0))
        # -- de-risk on a critical alert --------------------------------------------------------
        if critical and sec != last_derisk:
            last_derisk = sec
            for i, s in enumerate(syms):
                q = int(held[i] * derisk_pct / 100.0 / 100.0) * 100
                if q <= 0:
                    continue
                engine.submit(Order(s, Side.BUY, q, OrderType.LIMIT, float(max(marks[i] - 0.01, 0.01)), MAKER))
                o0 = time.perf_counter()
                r = engine.submit(Order(s, Side.SELL, q, OrderType.MARKET, None, BOOK))
                ord_lat.append(time.perf_counter() - o0)
                orders += 1
                order_times.append(float(sec))
                if r.rejected:
                    rejected += 1
                else:
                    filled += r.filled_quantity == q
                    cash += sum(f.price * f.quantity for f in r.fills)
    bad = proc.rejected + proc.malformed
    return CrashRun(shock_pct, volume_mult, proc.accepted + bad, bad,
                    np.array(rec_lat), np.array(chk_lat), np.array(ord_lat), breaches_normal, breaches_crash,
                    alerts_critical, first_alert_s, first_alert_wall, orders, filled, rejected,
                    100.0 * (1.0 - equity / peak), time.perf_counter() - t0, names)


@dataclass(frozen=True)
class StressedVar:
    """VaR (positive loss, account currency) of one book on a return history that ends in a crash."""

    historical: float  # trading_agent.risk.var.historical_var on the stressed window
    parametric: float  # ... parametric_var on the window's mean and covariance
    monte_carlo: float  # ... monte_carlo_var on the same
    pre_crash_historical: float  # historical VaR on the window before the crash day was added
    crash_loss: float  # the book's loss on the crash day itself
    weights: np.ndarray
    returns: np.ndarray  # (T, N) daily log returns, the stressed window (what a reference recomputes)
    value: float
    confidence: float


def stressed_var(shock_pct: float, *, n_symbols: int = 20, window_days: int = 250, crash_days: int = 1,
                 seed: int = 7, value: float = 10_000_000.0, confidence: float = 0.99,
                 mc_scenarios: int = 100_000) -> StressedVar:
    """VaR of the crash book's weights on a ``window_days`` history whose last ``crash_days`` days
    are the crash (every symbol's log return ``log1p(shock / crash_days)`` plus its usual noise)."""
    pf = synthetic_portfolio(n_symbols, seed, value=value)
    hist = synthetic_returns(pf, window_days + crash_days, seed + 1)
    base = hist[:window_days]
    crash = hist[window_days:] + np.log1p(shock_pct / 100.0 / crash_days)
    window = np.vstack([base[crash_days:], crash])
    w = pf.weights
    mu, cov = window.mean(axis=0), np.cov(window, rowvar=False)
    return StressedVar(historical_var(window, w, value, confidence), parametric_var(mu, cov, w, value, confidence),
                       monte_carlo_var(mu, cov, w, value, n_scenarios=mc_scenarios, confidence=confidence,
                                       rng=np.random.default_rng(seed + 2)),
                       historical_var(base, w, value, confidence), float(-(np.expm1(crash) @ w).sum() * value),
                       w, window, value, confidence)
