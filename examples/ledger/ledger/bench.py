"""Benchmark factories of the ledger's Python code, in the shape a benchmark runner expects.

Each factory takes its parameters as keywords, sets up (untimed) and returns a zero-argument
callable: the operation to time. The callable carries

* ``items_per_call``: how many items one call handles (entries, bodies, commands);
* ``info``: a small dict of counters filled *while it runs* (calls, items handled, what the last
  call found) and at :meth:`close` (``verified``: the result checked against an independent
  implementation once, after the timed calls);
* ``close()``: the end of the measurement (the check above; nothing to release here).

Nothing here imports the platform that measures it.
"""
from __future__ import annotations

import json
import random
from typing import Any

import numpy as np

from ledger import analytics, model
from ledger.store import RespParser, encode


def _entries(n_entries: int, n_accounts: int, seed: int) -> tuple[list[tuple[str, int]], np.ndarray, np.ndarray]:
    if n_entries < 1 or n_accounts < 1:
        raise ValueError(f"n_entries and n_accounts must be >= 1, got {n_entries}, {n_accounts}")
    rng = np.random.default_rng(seed)
    account = rng.integers(0, n_accounts, size=n_entries)
    # deposits and withdrawals in cents, withdrawals a little more frequent: balances wander
    amount = rng.integers(-50_000, 45_000, size=n_entries).astype(np.int64)
    names = [f"acct-{i}" for i in range(n_accounts)]
    return [(names[a], int(x)) for a, x in zip(account.tolist(), amount.tolist())], account, amount


class _Op:
    item_unit = "entry"

    def __init__(self, items_per_call: int) -> None:
        self.items_per_call = items_per_call
        self.calls = 0
        self.verified: bool | None = None
        self.last: Any = None

    @property
    def info(self) -> dict[str, Any]:
        return {"calls": self.calls, "items": self.calls * self.items_per_call, "verified": self.verified,
                **self._info()}

    def _info(self) -> dict[str, Any]:
        return {}


class BalanceReplay(_Op):
    """Every account's balance from the whole history, in plain Python (what
    :mod:`ledger.checks` does to audit a store)."""

    def __init__(self, n_entries: int, n_accounts: int, seed: int) -> None:
        self.entries, self._account, self._amount = _entries(n_entries, n_accounts, seed)
        self.n_accounts = n_accounts
        super().__init__(n_entries)

    def __call__(self) -> None:
        self.last = model.replay_balances(self.entries)
        self.calls += 1

    def close(self) -> None:
        if self.last is not None:
            ref = analytics.balances(self._account, self._amount, self.n_accounts)
            self.verified = all(self.last.get(f"acct-{i}", 0) == int(ref[i]) for i in range(self.n_accounts))

    def _info(self) -> dict[str, Any]:
        return {"accounts": len(self.last or ()), "total_balance": sum((self.last or {}).values())}


class BalanceReplayNumpy(BalanceReplay):
    """The same balances, vectorised (``np.add.at``)."""

    def __call__(self) -> None:
        self.last = analytics.balances(self._account, self._amount, self.n_accounts)
        self.calls += 1

    def close(self) -> None:
        if self.last is not None:
            ref = model.replay_balances(self.entries)
            self.verified = all(ref.get(f"acct-{i}", 0) == int(v) for i, v in enumerate(self.last))

    def _info(self) -> dict[str, Any]:
        last = self.last if self.last is not None else np.zeros(0, dtype=np.int64)
        return {"accounts": int(np.count_nonzero(last)), "total_balance": int(last.sum())}


class Drawdowns(BalanceReplay):
    """Each account's largest fall below an earlier peak over the whole history (numpy)."""

    def __call__(self) -> None:
        self.last = analytics.max_drawdowns(self._account, self._amount, self.n_accounts)
        self.calls += 1

    def close(self) -> None:
        if self.last is not None:
            ref = model.max_drawdowns(self.entries)
            self.verified = all(ref.get(f"acct-{i}", 0) == int(v) for i, v in enumerate(self.last))

    def _info(self) -> dict[str, Any]:
        last = self.last if self.last is not None else np.zeros(1, dtype=np.int64)
        return {"worst_drawdown": int(last.max()) if len(last) else 0}


class EntryParse(_Op):
    """One ``POST /entries`` body decoded and validated per call (the service's own code),
    cycling through bodies of which ``bad_share`` are invalid."""

    item_unit = "body"

    def __init__(self, n_bodies: int, bad_share: float, seed: int) -> None:
        if not 0 <= bad_share <= 1 or n_bodies < 1:
            raise ValueError(f"need n_bodies >= 1 and 0 <= bad_share <= 1, got {n_bodies}, {bad_share}")
        rng = random.Random(seed)
        bad = [{"account": "a b", "amount": 1}, {"account": "x", "amount": 1.5}, {"account": "x"},
               {"account": "x", "amount": 1, "memo": "?"}, [1, 2]]
        self.bodies = [json.dumps(rng.choice(bad) if rng.random() < bad_share else
                                  {"account": f"acct-{rng.randrange(500)}", "amount": rng.randint(-10**6, 10**6)}
                                  ).encode() for _ in range(n_bodies)]
        self.expected_bad = sum(1 for b in self.bodies if not _valid(b))
        self.i = 0
        self.accepted = self.rejected = 0
        super().__init__(1)

    def __call__(self) -> None:
        body = self.bodies[self.i]
        self.i = (self.i + 1) % len(self.bodies)
        self.calls += 1
        try:
            model.parse_entry(body)
            self.accepted += 1
        except model.InvalidEntry:
            self.rejected += 1

    def close(self) -> None:
        # every full pass over the bodies must reject exactly the invalid ones
        passes, rest = divmod(self.calls, len(self.bodies))
        want = passes * self.expected_bad + sum(1 for b in self.bodies[:rest] if not _valid(b))
        self.verified = self.calls > 0 and self.rejected == want

    def _info(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "rejected": self.rejected}


def _valid(body: bytes) -> bool:
    try:
        model.parse_entry(body)
        return True
    except model.InvalidEntry:
        return False


class RespCodec(_Op):
    """The store client's wire work for one entry: encode the write command, then parse a
    pipelined reply of ``batch`` replies (integers, bulk strings, arrays), no socket."""

    item_unit = "command"

    def __init__(self, batch: int, seed: int) -> None:
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        rng = random.Random(seed)
        self.batch = batch
        self.commands = [("EVAL", "return 1", 5, "p:next_id", "p:entry:", f"p:acct:a{k}:ids", f"p:acct:a{k}:balance",
                          "p:accounts", f"a{k}", rng.randint(-10**6, 10**6)) for k in range(batch)]
        self.reply = b"".join(b"*3\r\n:%d\r\n:%d\r\n$%d\r\n%s\r\n" % (k, k % 7, len(str(k * 3)), str(k * 3).encode())
                              for k in range(batch))
        self.bytes_out = 0
        self.replies = 0
        super().__init__(batch)

    def __call__(self) -> None:
        out = b"".join(encode(*c) for c in self.commands)
        parser = RespParser()
        parser.feed(self.reply)
        n = 0
        while parser.get() is not None:
            n += 1
        self.bytes_out += len(out)
        self.replies += n
        self.calls += 1
        self.last = n

    def close(self) -> None:
        self.verified = self.calls > 0 and self.replies == self.calls * self.batch

    def _info(self) -> dict[str, Any]:
        return {"bytes_encoded": self.bytes_out, "replies_parsed": self.replies}


# -- the factories (benchmarks.yaml names these) --------------------------------------------------

def balance_replay(n_entries: int = 20_000, n_accounts: int = 200, seed: int = 7) -> BalanceReplay:
    return BalanceReplay(n_entries, n_accounts, seed)


def balance_replay_numpy(n_entries: int = 20_000, n_accounts: int = 200, seed: int = 7) -> BalanceReplayNumpy:
    return BalanceReplayNumpy(n_entries, n_accounts, seed)


def drawdown_risk(n_entries: int = 20_000, n_accounts: int = 200, seed: int = 7) -> Drawdowns:
    return Drawdowns(n_entries, n_accounts, seed)


def entry_parse(n_bodies: int = 1000, bad_share: float = 0.1, seed: int = 7) -> EntryParse:
    return EntryParse(n_bodies, bad_share, seed)


def resp_codec(batch: int = 100, seed: int = 7) -> RespCodec:
    return RespCodec(batch, seed)
