"""Position tracking per account and symbol, average-cost method.

A position is ``quantity`` (shares; > 0 long, < 0 short), ``avg_price`` (currency per share
of the open quantity; 0 when flat) and ``realised_pnl`` (currency, booked when a fill reduces
the position). The method keeps this identity exactly (up to float rounding) for any sequence
of fills, which the tests check::

    realised_pnl + quantity * (mark - avg_price) == cash_flow + quantity * mark

where ``cash_flow = sum(-signed_qty * price)`` over the fills. Over a round trip back to flat,
realised P&L equals the cash flows of the fills.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from trading_agent.trading.model import Fill


@dataclass(frozen=True, slots=True)
class Position:
    """A snapshot of one account's position in one symbol."""

    account: str
    symbol: str
    quantity: int
    avg_price: float
    realised_pnl: float

    def unrealised_pnl(self, mark: float) -> float:
        """Currency gain of the open quantity marked at ``mark`` (currency per share)."""
        return self.quantity * (mark - self.avg_price)


class _Pos:
    __slots__ = ("quantity", "avg_price", "realised_pnl")

    def __init__(self) -> None:
        self.quantity = 0
        self.avg_price = 0.0
        self.realised_pnl = 0.0


class PositionBook:
    """All positions, updated from fills. ``apply`` is O(1): two dict lookups and a few floats."""

    def __init__(self) -> None:
        self._by_account: dict[str, dict[str, _Pos]] = {}
        self.fills_applied = 0

    def apply(self, account: str, symbol: str, signed_quantity: int, price: float) -> None:
        """Apply one execution: ``signed_quantity`` > 0 bought, < 0 sold, at ``price``."""
        if not signed_quantity:
            raise ValueError(f"fill quantity for {account}/{symbol} must be non-zero, got {signed_quantity}")
        book = self._by_account.get(account)
        if book is None:
            book = self._by_account[account] = {}
        p = book.get(symbol)
        if p is None:
            p = book[symbol] = _Pos()
        q = p.quantity
        new_q = q + signed_quantity
        if q == 0 or (q > 0) == (signed_quantity > 0):  # opening or adding: new weighted average
            p.avg_price = (p.avg_price * q + price * signed_quantity) / new_q
        else:  # reducing, closing or flipping: book P&L on the closed part at the old average
            closed = -signed_quantity if q > 0 else signed_quantity  # > 0
            if closed > abs(q):
                closed = abs(q)
            p.realised_pnl += closed * (price - p.avg_price) if q > 0 else closed * (p.avg_price - price)
            if new_q == 0:
                p.avg_price = 0.0
            elif (new_q > 0) != (q > 0):  # flipped: the remainder opened at this price
                p.avg_price = price
        p.quantity = new_q
        self.fills_applied += 1

    def apply_fill(self, fill: Fill) -> None:
        """Apply both sides of a fill: the buyer gains, the seller loses ``fill.quantity``."""
        self.apply(fill.buy_account, fill.symbol, fill.quantity, fill.price)
        self.apply(fill.sell_account, fill.symbol, -fill.quantity, fill.price)

    def apply_fills(self, fills: Iterable[Fill]) -> None:
        for f in fills:
            self.apply_fill(f)

    def quantity(self, account: str, symbol: str) -> int:
        """Current shares held (0 if never traded); the cheap query used by pre-trade risk."""
        book = self._by_account.get(account)
        if book is None:
            return 0
        p = book.get(symbol)
        return 0 if p is None else p.quantity

    def get(self, account: str, symbol: str) -> Position:
        book = self._by_account.get(account, {})
        p = book.get(symbol) or _Pos()
        return Position(account, symbol, p.quantity, p.avg_price, p.realised_pnl)

    def positions(self, account: str | None = None) -> Iterator[Position]:
        """Snapshots of every position (of one account, or all), including flat ones."""
        accounts = self._by_account if account is None else {account: self._by_account.get(account, {})}
        for acct, book in accounts.items():
            for sym, p in book.items():
                yield Position(acct, sym, p.quantity, p.avg_price, p.realised_pnl)

    def accounts(self) -> list[str]:
        return list(self._by_account)
