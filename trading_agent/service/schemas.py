"""Request and response bodies of the HTTP service (pydantic models, shown in ``/openapi.json``).

Units: prices in account currency per share, quantities in whole shares, amounts (cash, P&L,
exposure, VaR) in account currency, timestamps in nanoseconds since the epoch (``*_ns``). The
domain modules of the service build these models directly, so what the engine computed is what
the client receives.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# both = historical + parametric; all = both + Monte Carlo
VarMethod = Literal["both", "historical", "parametric", "monte_carlo", "all"]
MAX_SCENARIOS = 100_000  # one Monte Carlo request holds scenarios x assets floats (8 bytes each)
NAME_PATTERN = r"^[^\x00-\x1f\x7f]+$"  # account and symbol names: no control characters


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


# -- probes ------------------------------------------------------------------------------------
class Health(_Out):
    status: Literal["ok"] = "ok"
    pid: int
    uptime_s: float


class Readiness(_Out):
    status: Literal["ready", "starting", "failed"]
    pid: int
    detail: str | None = None
    build_s: float | None = Field(None, description="seconds the state took to build")
    store: str | None = Field(None, description="where this worker persists orders")


class Universe(_Out):
    symbols: list[str]
    accounts: list[str]


# -- market data -------------------------------------------------------------------------------
class BarOut(_Out):
    start_ns: int
    open: float
    high: float
    low: float
    close: float
    volume: int


class MarketData(_Out):
    symbol: str
    ts_ns: int = Field(description="feed time: the latest tick of any symbol")
    bid: float
    ask: float
    mid: float
    spread: float
    last: float
    vwap: float = Field(description="volume-weighted average trade price since the session start")
    volume: int = Field(description="shares traded since the session start")
    day_open: float
    day_high: float
    day_low: float
    bars: list[BarOut] = Field(description="the latest one-second OHLCV bars, oldest first, "
                                           "the last one still forming")
    age_s: float = Field(0.0, description="seconds since this symbol's last tick arrived")
    stale: bool = Field(False, description="the last tick is older than --max-quote-age-s: do not trade or "
                                           "price risk on this quote")


class TickIn(BaseModel):
    """One tick from an upstream feed: ``seq`` numbers each symbol's ticks 1, 2, 3, ..."""

    model_config = ConfigDict(extra="forbid")
    symbol: str = Field(min_length=1, max_length=32)
    seq: int = Field(ge=1)
    bid: float = Field(gt=0, lt=1e12)
    ask: float = Field(gt=0, lt=1e12)
    last: float = Field(gt=0, lt=1e12)
    size: int = Field(ge=0, le=10**9)


class TicksIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ticks: list[TickIn] = Field(min_length=1, max_length=10_000)


class FeedAck(_Out):
    accepted: int = Field(description="ticks applied")
    duplicates: int = Field(description="ticks at or below a symbol's last seq: dropped (replays, reordering)")
    gaps: int = Field(description="jumps over missing seqs in this batch (the ticks after a gap are applied)")
    missing: int = Field(description="seqs skipped by those gaps")


# -- portfolio ---------------------------------------------------------------------------------
class PositionOut(_Out):
    symbol: str
    quantity: int
    avg_price: float
    mark: float | None
    market_value: float
    unrealised_pnl: float
    realised_pnl: float


class PortfolioOut(_Out):
    account: str
    cash: float
    equity: float = Field(description="cash + net market value of the positions")
    realised_pnl: float
    unrealised_pnl: float
    total_pnl: float
    gross_exposure: float
    net_exposure: float
    positions: list[PositionOut]


# -- risk --------------------------------------------------------------------------------------
class RiskRequest(BaseModel):
    """Body of ``POST /risk/metrics``; the same knobs as the query of ``GET /risk/{account}``."""

    model_config = ConfigDict(extra="forbid")
    account: str = Field(min_length=1, max_length=64)
    method: VarMethod = Field(
        "both", description="both: historical + parametric; all: both + Monte Carlo")
    scenarios: int = Field(10_000, ge=100, le=MAX_SCENARIOS)
    confidence: float = Field(0.99, gt=0.5, lt=1.0)
    seed: int = Field(0, ge=0)


class VarOut(_Out):
    """One-day VaR as a positive loss; None where the method was not asked for."""

    historical: float | None
    parametric: float | None
    monte_carlo: float | None
    monte_carlo_scenarios: int | None
    history_days: int


class BreachOut(_Out):
    limit: str
    value: float
    threshold: float
    symbol: str | None


class LimitsOut(_Out):
    ok: bool
    n_checks: int
    breaches: list[BreachOut]


class RiskOut(_Out):
    account: str
    confidence: float
    method: str
    portfolio_value: float = Field(description="gross exposure, the base the VaR weights refer to")
    net_exposure: float
    equity: float
    var: VarOut
    limits: LimitsOut | None = Field(description="None when the limits cannot be judged (see limits_error)")
    limits_error: str | None = None


# -- recommendations ---------------------------------------------------------------------------
class PricePredictionOut(_Out):
    next_return_std: float = Field(description="predicted next-day return in units of its std")
    p_up: float = Field(ge=0.0, le=1.0, description="probability that the next return is positive")
    direction: Literal["up", "down"]


class AgentActionOut(_Out):
    action: Literal["sell", "hold", "buy"]
    action_prob: float
    value: float = Field(description="the critic's value estimate of the observation")


class RecommendationOut(_Out):
    symbol: str
    as_of_ns: int = Field(description="tick time of the market state the features were built from")
    mark: float
    price_model: PricePredictionOut
    agent: AgentActionOut
    features_as_of_ns: int = Field(description="start of the one-second bar the feature window was built in")


# -- orders ------------------------------------------------------------------------------------
class OrderRequest(BaseModel):
    """An order to submit. Shape and types are checked here (malformed: 422 with the validation
    detail); business rules (quantity and price ranges, tick grid, known symbol, risk limits) are
    the engine's, whose rejections come back as 422 with the engine's reason (and are recorded).

    Names exclude control characters (a NUL cannot be stored in PostgreSQL text); numbers are
    strict (``true`` is not a price, ``"100"`` not a quantity) and finite."""

    model_config = ConfigDict(extra="forbid")
    account: str = Field(min_length=1, max_length=64, pattern=NAME_PATTERN)
    symbol: str = Field(min_length=1, max_length=32, pattern=NAME_PATTERN)
    side: Literal["buy", "sell"]
    type: Literal["limit", "market"] = "limit"
    quantity: int = Field(strict=True, description="whole shares; the engine accepts 1 to its max order quantity")
    price: float | None = Field(None, strict=True, allow_inf_nan=False,
                                description="limit price on the tick grid, one tick to 10**12 ticks "
                                            "(0.01 to 1e10); omit for market orders")


class FillOut(_Out):
    fill_id: int
    ts_ns: int
    price: float
    quantity: int
    buy_order_id: int
    sell_order_id: int
    buy_account: str
    sell_account: str


class OrderOut(_Out):
    order_id: int
    status: Literal["new", "partially_filled", "filled", "cancelled", "rejected"]
    account: str
    symbol: str
    side: str
    type: str
    quantity: int
    price: float | None
    filled_quantity: int
    resting_quantity: int
    cancelled_quantity: int
    avg_fill_price: float | None
    fills: list[FillOut]
    reason: str | None = Field(None, description="why the engine rejected the order")
    reject_code: str | None = None


class ErrorOut(_Out):
    detail: str


class ValidationIssueOut(_Out):
    """One problem of a malformed request, as :func:`trading_agent.service.guards.validation_detail`
    reports it (pydantic's error with a short excerpt of the input)."""

    type: str
    loc: list[str | int]
    msg: str
    input: Any = None
    ctx: dict[str, Any] | None = None


class ValidationErrorOut(_Out):
    """A malformed request (422): up to 20 issues, then one ``too_many_errors`` item."""

    detail: list[ValidationIssueOut]
