"""Trading operations: order processing end to end, position tracking and portfolio P&L.

- :mod:`.model`: value types (orders, fills, results, limits, persisted order states)
- :mod:`.checks`: order validation and pre-trade risk (pure functions)
- :mod:`.book`: price-time-priority limit order book per symbol
- :mod:`.positions`: positions per account and symbol from fills (average cost)
- :mod:`.pnl`: realised + unrealised P&L of a portfolio at marks
- :mod:`.store`, :mod:`.pg_store`: order persistence (SQLite, PostgreSQL)
- :mod:`.engine`: validate -> risk -> match -> positions -> persist
- :mod:`.orderflow`: seeded synthetic order streams; :mod:`.bench`: benchmark factories
"""
from __future__ import annotations

from trading_agent.trading.engine import OrderEngine
from trading_agent.trading.model import (Fill, Instrument, Order, OrderRecord, OrderResult, OrderStatus,
                                         OrderType, OrderUpdate, RejectCode, RiskLimits, Side)
from trading_agent.trading.pnl import PortfolioPnL, portfolio_pnl
from trading_agent.trading.positions import Position, PositionBook
from trading_agent.trading.store import OrderStore, SqliteOrderStore, open_store

__all__ = ["Fill", "Instrument", "Order", "OrderEngine", "OrderRecord", "OrderResult", "OrderStatus", "OrderStore",
           "OrderType", "OrderUpdate", "PortfolioPnL", "Position", "PositionBook", "RejectCode", "RiskLimits",
           "Side", "SqliteOrderStore", "open_store", "portfolio_pnl"]
