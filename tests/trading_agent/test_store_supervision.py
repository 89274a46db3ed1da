"""The worker's store handle under repeated failure handling: closing twice must never close a
descriptor that now belongs to someone else (the supervisor closes a failed store before every
reopen attempt, and shutdown closes it again)."""
from __future__ import annotations

import os
from pathlib import Path

from trading_agent.service.storage import open_worker_store


def test_closing_a_worker_store_twice_leaves_other_descriptors_alone(tmp_path: Path):
    ws = open_worker_store(f"sqlite:///{tmp_path / 'orders.db'}", 1)
    ws.close()
    with open(tmp_path / "other", "w") as other:  # likely takes a descriptor number the store released
        ws.close()
        os.fstat(other.fileno())  # still open
        other.write("still mine")
    assert (tmp_path / "other").read_text() == "still mine"


def test_a_closed_store_can_be_reopened_on_the_same_slot(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'orders.db'}"
    first = open_worker_store(db, 1)
    first.close()
    again = open_worker_store(db, 1)  # the slot's lock was released exactly once
    try:
        assert again.store is not None
    finally:
        again.close()
