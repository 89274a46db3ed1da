"""The SQLite order store's transactions on a real file: a save that fails leaves nothing behind,
atomic() nests and rolls back as one, updates commit or roll back alone, and bad settings are
refused naming the value."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest

from trading_agent.trading.model import Fill, OrderRecord, OrderStatus, OrderUpdate, Side
from trading_agent.trading.store import SqliteOrderStore


def _resting(order_id: int, quantity: int = 100) -> OrderRecord:
    return OrderRecord(order_id, 1_000 + order_id, "acct-1", "SYM001", "sell", "limit", 10.0, quantity, 0, quantity,
                       0, OrderStatus.NEW)


def _buy(order_id: int, quantity: int) -> OrderRecord:
    return OrderRecord(order_id, 1_000 + order_id, "acct-2", "SYM001", "buy", "market", None, quantity, quantity, 0, 0,
                       OrderStatus.FILLED)


def _fill(fill_id: int, buy: int, sell: int, quantity: int) -> Fill:
    return Fill(fill_id, 2_000 + fill_id, "SYM001", 10.0, quantity, buy, sell, "acct-2", "acct-1", Side.BUY)


@pytest.fixture
def store(tmp_path: Path):
    s = SqliteOrderStore(tmp_path / "orders.db")
    yield s
    s.close()


def test_a_save_that_fails_midway_leaves_neither_the_order_nor_its_fills(store: SqliteOrderStore):
    store.save(_resting(1), [], [])
    with pytest.raises(sqlite3.IntegrityError):  # fill id 1 twice: the second insert fails
        store.save(_buy(2, 40), [_fill(1, 2, 1, 20), _fill(1, 2, 1, 20)],
                   [OrderUpdate(1, 40, 60, 0, OrderStatus.PARTIALLY_FILLED)])
    assert store.get_order(2) is None and store.fills() == []
    assert store.get_order(1).resting_quantity == 100  # the maker's update was rolled back too
    assert store.last_ids() == (1, 0)


def test_atomic_nests_and_rolls_back_everything_inside_it(store: SqliteOrderStore):
    with pytest.raises(RuntimeError, match="engine bug"):
        with store.atomic():
            store.save(_resting(1), [], [])
            with store.atomic():  # nested: part of the outer transaction
                store.save(_buy(2, 30), [_fill(1, 2, 1, 30)], [])
                store.update([OrderUpdate(1, 30, 70, 0, OrderStatus.PARTIALLY_FILLED)])
            raise RuntimeError("engine bug")
    assert store.orders() == [] and store.fills() == [] and store.last_ids() == (0, 0)
    with store.atomic():
        store.save(_resting(1), [], [])
        store.update([OrderUpdate(1, 0, 0, 100, OrderStatus.CANCELLED)])
    assert store.get_order(1).status == OrderStatus.CANCELLED and store.get_order(1).cancelled_quantity == 100


def test_an_update_outside_atomic_commits_on_its_own_and_a_failing_one_rolls_back(tmp_path: Path,
                                                                                store: SqliteOrderStore):
    store.save(_resting(1), [], [])
    store.save(_resting(2), [], [])
    store.update([OrderUpdate(1, 0, 0, 100, OrderStatus.CANCELLED)])
    other = SqliteOrderStore(tmp_path / "orders.db")  # another connection sees it: committed
    try:
        assert other.get_order(1).status == OrderStatus.CANCELLED
    finally:
        other.close()
    no_status = SimpleNamespace(value=None)  # the row's status column is NOT NULL: the second row fails
    with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):
        store.update([OrderUpdate(2, 0, 0, 100, OrderStatus.CANCELLED),
                      OrderUpdate(1, 0, 0, 100, no_status)])  # type: ignore[arg-type]
    assert store.get_order(2).status == OrderStatus.NEW  # the first update of the batch was rolled back


def test_fills_of_one_order_are_found_from_either_side(store: SqliteOrderStore):
    store.save(_resting(1), [], [])
    store.save(_resting(3), [], [])
    store.save(_buy(2, 150), [_fill(1, 2, 1, 100), _fill(2, 2, 3, 50)],
               [OrderUpdate(1, 100, 0, 0, OrderStatus.FILLED), OrderUpdate(3, 50, 50, 0,
                                                                           OrderStatus.PARTIALLY_FILLED)])
    assert [f.fill_id for f in store.fills(2)] == [1, 2]
    assert [f.fill_id for f in store.fills(3)] == [2]
    assert store.fills(99) == [] and store.get_order(99) is None


def test_bad_synchronous_settings_are_refused_and_abort_on_a_closed_store_is_harmless(tmp_path: Path):
    with pytest.raises(ValueError, match="synchronous must be OFF, NORMAL, FULL or EXTRA, got 'fast'"):
        SqliteOrderStore(tmp_path / "x.db", synchronous="fast")
    s = SqliteOrderStore(tmp_path / "y.db", synchronous="full")
    s.close()
    s.abort()  # nothing running, connection closed: no error
