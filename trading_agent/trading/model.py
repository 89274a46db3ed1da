"""Value types of the order path: instruments, orders, fills, results and persisted order states.

Units: prices are in account currency per share (floats on the instrument's tick grid),
quantities are whole shares (``int``), timestamps are nanoseconds since the epoch (``ts_ns``).

An :class:`Order` is deliberately *not* validated on construction: a bad order (negative
quantity, unknown symbol, price off the grid) must be representable so the engine can reject it
with a reason (:class:`OrderResult` with ``status == REJECTED``) instead of raising.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    LIMIT = "limit"  # rests any unfilled remainder at its limit price
    MARKET = "market"  # fills what the book offers now; the remainder is cancelled (IOC)


class OrderStatus(StrEnum):
    NEW = "new"  # resting, nothing filled yet
    PARTIALLY_FILLED = "partially_filled"  # resting, some filled
    FILLED = "filled"
    CANCELLED = "cancelled"  # remainder cancelled (market order remainder, or a cancel request)
    REJECTED = "rejected"  # never reached the book


class RejectCode(StrEnum):
    UNKNOWN_SYMBOL = "unknown_symbol"
    INVALID_ACCOUNT = "invalid_account"
    INVALID_SIDE = "invalid_side"
    INVALID_ORDER_TYPE = "invalid_order_type"
    INVALID_QUANTITY = "invalid_quantity"
    INVALID_PRICE = "invalid_price"
    OFF_TICK_GRID = "off_tick_grid"
    MAX_ORDER_QUANTITY = "max_order_quantity"
    MAX_NOTIONAL = "max_notional"
    MAX_POSITION = "max_position"


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable symbol; limit prices must be whole multiples of ``tick_size`` (currency)."""

    symbol: str
    tick_size: float = 0.01

    def __post_init__(self) -> None:
        if not self.symbol:
            raise ValueError(f"instrument symbol must be non-empty, got {self.symbol!r}")
        if not (self.tick_size > 0 and math.isfinite(self.tick_size)):
            raise ValueError(f"tick_size of {self.symbol} must be a positive number, got {self.tick_size!r}")

    @property
    def price_decimals(self) -> int:
        """Decimals needed to print a grid price exactly (0.01 -> 2, 0.5 -> 1, 5 -> 0)."""
        for d in range(10):
            if abs(round(self.tick_size, d) - self.tick_size) < 1e-12:
                return d
        return 10


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Pre-trade limits per account and symbol.

    ``max_order_quantity`` shares per order, ``max_notional`` currency per order (quantity x
    limit price; for a market order quantity x best opposite price), ``max_position`` shares of
    absolute worst-case position (current position + open orders on the same side + this order).
    """

    max_order_quantity: int = 10_000
    max_notional: float = 1_000_000.0
    max_position: int = 50_000

    def __post_init__(self) -> None:
        for name in ("max_order_quantity", "max_notional", "max_position"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"RiskLimits.{name} must be > 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class Order:
    """An order as submitted; ``price`` is required for limit orders and must be None for market."""

    symbol: str
    side: Side
    quantity: int
    order_type: OrderType = OrderType.LIMIT
    price: float | None = None
    account: str = "default"


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution between an aggressor and a resting (maker) order, at the maker's price."""

    fill_id: int
    ts_ns: int
    symbol: str
    price: float
    quantity: int
    buy_order_id: int
    sell_order_id: int
    buy_account: str
    sell_account: str
    aggressor: Side

    @property
    def notional(self) -> float:
        return self.price * self.quantity


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """An order's persisted state. Invariant for accepted orders:
    ``filled_quantity + resting_quantity + cancelled_quantity == quantity``; rejected orders
    have all three at zero and a ``reason``."""

    order_id: int
    ts_ns: int
    account: str
    symbol: str
    side: str
    order_type: str
    price: float | None
    quantity: int
    filled_quantity: int
    resting_quantity: int
    cancelled_quantity: int
    status: OrderStatus
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """A later change to a persisted order: a resting order filled as maker, or cancelled."""

    order_id: int
    filled_quantity: int
    resting_quantity: int
    cancelled_quantity: int
    status: OrderStatus


@dataclass(frozen=True, slots=True)
class OrderResult:
    """What :meth:`OrderEngine.submit` returns. ``reason``/``reject_code`` are set iff rejected."""

    order_id: int
    status: OrderStatus
    filled_quantity: int
    resting_quantity: int
    cancelled_quantity: int
    fills: tuple[Fill, ...] = ()
    reason: str | None = None
    reject_code: RejectCode | None = None

    @property
    def rejected(self) -> bool:
        return self.status is OrderStatus.REJECTED


@dataclass(frozen=True, slots=True)
class OpeningAccount:
    """An account as the day started: ``cash`` and ``equity`` (cash + positions at the opening
    marks, the first peak of the drawdown check), both in account currency."""

    account: str
    cash: float
    equity: float


@dataclass(frozen=True, slots=True)
class OpeningPosition:
    """A start-of-day position: ``quantity`` shares (< 0 short) bought at ``price``; applied to
    the position book before any fill, in the order given."""

    account: str
    symbol: str
    quantity: int
    price: float


@dataclass(frozen=True, slots=True)
class StartOfDay:
    """What a store is seeded with, once, before its first order: the accounts, their opening
    positions (in application order) and ``seeded_with``, the parameters that produced them
    (JSON-able), so a restart with different parameters is refused instead of mixed in."""

    seeded_with: dict
    accounts: tuple[OpeningAccount, ...]
    positions: tuple[OpeningPosition, ...]
