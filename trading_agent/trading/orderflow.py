"""Seeded synthetic order flow for tests and benchmarks.

Orders follow the quotes of :func:`trading_agent.data.synthetic_ticks` (random-walk prices per
symbol): a limit buy is priced a few ticks around the quoted bid, a limit sell around the ask,
so a good share crosses the resting book and fills, partially or fully, and the rest rests near
the touch. Market orders take liquidity. ``bad_fraction`` of the orders are deliberately bad
(zero or negative quantity, unknown symbol, off-grid price, over the quantity limit) to exercise
the reject path. Quantities are whole lots of 100 shares.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trading_agent.data import synthetic_ticks
from trading_agent.trading.model import Instrument, Order, OrderType, Side


@dataclass(frozen=True, slots=True)
class FlowConfig:
    """Shape of the flow: fractions in [0, 1]; offsets in ticks; ``max_lots`` x 100 shares."""

    market_fraction: float = 0.15
    bad_fraction: float = 0.0
    n_accounts: int = 8
    max_lots: int = 10
    min_offset_ticks: int = -2  # buy at quoted bid + offset, sell at ask - offset (ticks)
    max_offset_ticks: int = 4
    bad_quantity: int = 1_000_000  # the "over the limit" bad order's quantity

    def __post_init__(self) -> None:
        for name in ("market_fraction", "bad_fraction"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"FlowConfig.{name} must be in [0, 1], got {v!r}")
        if self.n_accounts < 1 or self.max_lots < 1:
            raise ValueError(f"n_accounts and max_lots must be >= 1, got {self.n_accounts}, {self.max_lots}")
        if self.min_offset_ticks > self.max_offset_ticks:
            raise ValueError(f"min_offset_ticks {self.min_offset_ticks} > max_offset_ticks {self.max_offset_ticks}")


def symbol_names(n_symbols: int) -> list[str]:
    """The symbols :func:`synthetic_ticks` uses: ``SYM000``, ``SYM001``..."""
    return [f"SYM{i:03d}" for i in range(n_symbols)]


def instruments(n_symbols: int, tick_size: float = 0.01) -> list[Instrument]:
    return [Instrument(s, tick_size) for s in symbol_names(n_symbols)]


def synthetic_orders(n_orders: int, n_symbols: int, seed: int, *, tick_size: float = 0.01,
                     config: FlowConfig | None = None) -> list[Order]:
    """``n_orders`` seeded orders over ``n_symbols`` symbols (same seed, same list)."""
    if n_orders < 1 or n_symbols < 1:
        raise ValueError(f"n_orders and n_symbols must be >= 1, got {n_orders}, {n_symbols}")
    cfg = config or FlowConfig()
    ticks = synthetic_ticks(n_orders, n_symbols, seed, tick_size=tick_size)
    rng = np.random.default_rng(seed + 1)
    is_buy = rng.random(n_orders) < 0.5
    is_market = rng.random(n_orders) < cfg.market_fraction
    is_bad = rng.random(n_orders) < cfg.bad_fraction
    bad_kind = rng.integers(0, 5, size=n_orders)
    lots = rng.integers(1, cfg.max_lots + 1, size=n_orders)
    offsets = rng.integers(cfg.min_offset_ticks, cfg.max_offset_ticks + 1, size=n_orders)
    accounts = [f"ACC{i}" for i in range(cfg.n_accounts)]
    acct_idx = rng.integers(0, cfg.n_accounts, size=n_orders)
    decimals = Instrument("X", tick_size).price_decimals
    out: list[Order] = []
    for i, t in enumerate(ticks):
        side = Side.BUY if is_buy[i] else Side.SELL
        qty = int(lots[i]) * 100
        account = accounts[int(acct_idx[i])]
        if is_market[i]:
            order = Order(t.symbol, side, qty, OrderType.MARKET, None, account)
        else:
            ref = round(t.bid / tick_size) if side is Side.BUY else round(t.ask / tick_size)
            px_ticks = max(ref + int(offsets[i]) * (1 if side is Side.BUY else -1), 1)
            order = Order(t.symbol, side, qty, OrderType.LIMIT, round(px_ticks * tick_size, decimals), account)
        if is_bad[i]:
            order = _spoil(order, int(bad_kind[i]), tick_size, cfg)
        out.append(order)
    return out


def _spoil(o: Order, kind: int, tick_size: float, cfg: FlowConfig) -> Order:
    """A bad variant of a good order; each kind hits a different rejection reason."""
    price = o.price if o.price is not None else 100.0
    if kind == 0:
        return Order(o.symbol, o.side, 0, o.order_type, o.price, o.account)
    if kind == 1:
        return Order(o.symbol, o.side, -o.quantity, o.order_type, o.price, o.account)
    if kind == 2:
        return Order("NOPE", o.side, o.quantity, o.order_type, o.price, o.account)
    if kind == 3:
        return Order(o.symbol, o.side, o.quantity, OrderType.LIMIT, price + tick_size / 2, o.account)
    return Order(o.symbol, o.side, cfg.bad_quantity, o.order_type, o.price, o.account)
