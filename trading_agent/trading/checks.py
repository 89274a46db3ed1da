"""Order validation and pre-trade risk checks: pure functions returning a :class:`Rejection`
(code + a reason naming the bad value) or None when the order may proceed.

Validation order: symbol, account, side, order type, quantity, price (positive, finite, on the tick
grid); then risk: max order quantity, max notional, max worst-case position.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from trading_agent.trading.model import Instrument, Order, OrderType, RejectCode, RiskLimits, Side

_GRID_TOLERANCE = 1e-6  # fraction of a tick: absorbs float noise such as 0.1 + 0.2


@dataclass(frozen=True, slots=True)
class Rejection:
    code: RejectCode
    reason: str


def price_to_ticks(price: float, tick_size: float) -> int | None:
    """``price / tick_size`` as an int, or None when the price is not on the grid."""
    ticks = round(price / tick_size)
    if abs(ticks * tick_size - price) > tick_size * _GRID_TOLERANCE:
        return None
    return ticks


def validate_order(order: Order, instrument: Instrument | None) -> Rejection | None:
    """Static checks that need no market state. ``instrument`` None means an unknown symbol."""
    if instrument is None:
        return Rejection(RejectCode.UNKNOWN_SYMBOL, f"unknown symbol {order.symbol!r}")
    if type(order.account) is not str or not order.account:
        return Rejection(RejectCode.INVALID_ACCOUNT, f"account must be a non-empty string, got {order.account!r}")
    if order.side not in (Side.BUY, Side.SELL):
        return Rejection(RejectCode.INVALID_SIDE, f"side must be 'buy' or 'sell', got {order.side!r}")
    q = order.quantity
    if type(q) is not int or q <= 0:
        return Rejection(RejectCode.INVALID_QUANTITY, f"quantity must be a positive integer, got {q!r}")
    price = order.price
    if order.order_type == OrderType.LIMIT:
        if price is None or type(price) not in (float, int) or not math.isfinite(price) or price <= 0:
            return Rejection(RejectCode.INVALID_PRICE,
                             f"limit order price must be a positive finite number, got {price!r}")
        if price_to_ticks(price, instrument.tick_size) is None:
            return Rejection(RejectCode.OFF_TICK_GRID, f"price {price!r} is off the {instrument.tick_size} "
                                                       f"tick grid of {instrument.symbol}")
    elif order.order_type == OrderType.MARKET:
        if price is not None:
            return Rejection(RejectCode.INVALID_PRICE, f"market order must not carry a price, got {price!r}")
    else:
        return Rejection(RejectCode.INVALID_ORDER_TYPE,
                         f"order type must be 'limit' or 'market', got {order.order_type!r}")
    return None


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
                         f"quantity {q} exceeds max order quantity {limits.max_order_quantity}")
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
