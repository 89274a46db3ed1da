"""The ledger's arithmetic vectorised with numpy (the service itself does not import it).

Entries are two arrays: ``account`` (integer index of the account, 0..n_accounts-1) and
``amount`` (int64 minor units), in the order they were written. The results equal
:func:`ledger.model.replay_balances` and :func:`ledger.model.max_drawdowns` exactly (integers).
"""
from __future__ import annotations

import numpy as np


def balances(account: np.ndarray, amount: np.ndarray, n_accounts: int) -> np.ndarray:
    """Each account's balance (int64)."""
    out = np.zeros(n_accounts, dtype=np.int64)
    np.add.at(out, account, amount)
    return out


def max_drawdowns(account: np.ndarray, amount: np.ndarray, n_accounts: int) -> np.ndarray:
    """Each account's largest fall of its running balance below an earlier peak (the opening
    balance 0 counts as a peak), as int64. Grouped running sums and maxima without a Python loop:
    entries are ordered by account (stable, so each account keeps its own order), each group is
    lifted by ``group x span`` so one global running maximum never carries a peak across groups."""
    order = np.argsort(account, kind="stable")
    acc, amt = account[order], amount[order].astype(np.int64)
    running = np.cumsum(amt)
    starts = np.flatnonzero(np.r_[True, acc[1:] != acc[:-1]]) if len(acc) else np.array([], dtype=np.int64)
    before = np.r_[0, running][starts]  # the global running sum before each group starts
    group = np.cumsum(np.r_[True, acc[1:] != acc[:-1]]) - 1 if len(acc) else np.array([], dtype=np.int64)
    balance = running - before[group]  # each account's running balance
    span = int(np.abs(amt).sum()) * 2 + 1  # more than any balance range
    lifted = balance + group * span
    peak = np.maximum(np.maximum.accumulate(lifted), group * span)  # the opening 0 is a peak
    fall = peak - lifted
    out = np.zeros(n_accounts, dtype=np.int64)
    if len(acc):
        out[acc[starts]] = np.maximum.reduceat(fall, starts)
    return out
