"""Order validation and pre-trade risk checks: pure functions returning a :class:`Rejection`
(code + a reason naming the bad value) or None when the order may proceed.

Validation order: symbol, account, side, order type, quantity, price (finite, from one tick to
``MAX_PRICE_TICKS`` ticks, on the tick grid); then risk: max order quantity, max notional, max
worst-case position. Every check is total: any value of any type gives a rejection, never an
exception (``1e308``, NaN, ``True``, a 400-digit int).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from trading_agent.trading.model import Instrument, Order, OrderType, RejectCode, RiskLimits, Side

_GRID_TOLERANCE = 1e-6  # fraction of a tick: absorbs float noise such as 0.1 + 0.2
# The highest limit price, in ticks (1e10 currency at a 0.01 tick). Far above any real price and
# far below 2**53, so a price's tick count is an exact int and quantity x price stays finite.
MAX_PRICE_TICKS = 10**12
_LOWEST = 1 - _GRID_TOLERANCE  # one tick, less float noise


@dataclass(frozen=True, slots=True)
class Rejection:
    code: RejectCode
    reason: str


def price_to_ticks(price: float, tick_size: float) -> int | None:
    """``price / tick_size`` as an int, or None when the price is not on the grid (or not a
    finite number of ticks: ``1e308 / 0.01`` overflows to infinity)."""
    q = price / tick_size
    if not math.isfinite(q):
        return None
    ticks = round(q)
    if abs(ticks * tick_size - price) > tick_size * _GRID_TOLERANCE:
        return None
    return ticks


def price_range(tick_size: float) -> tuple[float, float]:
    """``(lowest, highest)`` limit price on a ``tick_size`` grid: one tick to ``MAX_PRICE_TICKS``."""
    return tick_size, tick_size * MAX_PRICE_TICKS


def validate_order(order: Order, instrument: Instrument | None) -> Rejection | None:
    """Static checks that need no market state. ``instrument`` None means an unknown symbol."""
    if instrument is None:
        return Rejection(RejectCode.UNKNOWN_SYMBOL, f"unknown symbol {_short(order.symbol)}")
    if type(order.account) is not str or not order.account:
        return Rejection(RejectCode.INVALID_ACCOUNT, f"account must be a non-empty string, got {_short(order.account)}")
    if order.side not in (Side.BUY, Side.SELL):
        return Rejection(RejectCode.INVALID_SIDE, f"side must be 'buy' or 'sell', got {_short(order.side)}")
    q = order.quantity
    if type(q) is not int or q <= 0:
        return Rejection(RejectCode.INVALID_QUANTITY, f"quantity must be a whole number of shares >= 1, "
                                                      f"got {_short(q)}")
    price = order.price
    if order.order_type == OrderType.LIMIT:
        tick = instrument.tick_size
        # the comparisons are False for NaN; int prices compare exactly, however large
        if type(price) not in (float, int) or not tick * _LOWEST <= price <= tick * MAX_PRICE_TICKS:
            lo, hi = price_range(tick)
            return Rejection(RejectCode.INVALID_PRICE,
                             f"limit price must be a number from {lo:g} to {hi:g} (1 to {MAX_PRICE_TICKS:,} "
                             f"ticks of {instrument.tick_size:g}), got {_short(price)}")
        if price_to_ticks(price, instrument.tick_size) is None:
            return Rejection(RejectCode.OFF_TICK_GRID, f"price {price!r} is off the {instrument.tick_size} "
                                                       f"tick grid of {instrument.symbol}")
    elif order.order_type == OrderType.MARKET:
        if price is not None:
            return Rejection(RejectCode.INVALID_PRICE, f"market order must not carry a price, got {_short(price)}")
    else:
        return Rejection(RejectCode.INVALID_ORDER_TYPE,
                         f"order type must be 'limit' or 'market', got {_short(order.order_type)}")
    return None


def _short(value: object, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters: a reason never carries a huge input back
    (and never converts a huge int to text, which Python refuses past 4,300 digits)."""
    if type(value) is int and value.bit_length() > 128:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def check_risk(order: Order, limits: RiskLimits, *, position: int, open_buy: int, open_sell: int,
               ref_price: float | None) -> Rejection | None:
    """Pre-trade limits for a validated order.

    ``position`` is the account's current shares in the symbol, ``open_buy``/``open_sell`` its
    resting quantities. ``ref_price`` prices the notional: the limit price for a limit order,
    the best opposite price for a market order (None when the book side is empty: the order
    can fill nothing, so it has no notional). A market order sweeping several levels can trade
    above ``ref_price``; a protection price would bound that and is left out here.
    """
    q = order.quantity
    if q > limits.max_order_quantity:
        return Rejection(RejectCode.MAX_ORDER_QUANTITY,
                         f"quantity {_short(q)} exceeds max order quantity {limits.max_order_quantity} "
                         f"(allowed: 1 to {limits.max_order_quantity})")
    if ref_price is not None:
        notional = q * ref_price
        if notional > limits.max_notional:
            return Rejection(RejectCode.MAX_NOTIONAL,
                             f"notional {notional:.2f} ({q} x {ref_price}) exceeds max {limits.max_notional:.2f}")
    if order.side == Side.BUY:
        worst = position + open_buy + q
        if worst > limits.max_position:
            return Rejection(RejectCode.MAX_POSITION,
                             f"buy of {q} {order.symbol} could take the position to {worst} (position {position}, "
                             f"open buys {open_buy}), over max {limits.max_position}")
    else:
        worst = position - open_sell - q
        if -worst > limits.max_position:
            return Rejection(RejectCode.MAX_POSITION,
                             f"sell of {q} {order.symbol} could take the position to {worst} (position {position}, "
                             f"open sells {open_sell}), over max -{limits.max_position}")
    return None
