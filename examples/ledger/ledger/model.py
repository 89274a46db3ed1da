"""What an entry is, and the ledger's arithmetic in plain Python (standard library only).

Shared by the service (validation of ``POST /entries``), the benchmarks (:mod:`ledger.bench`) and
the checks (:mod:`ledger.checks`: the balance a store's entries add up to).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

ACCOUNT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_AMOUNT = 10**12  # |amount| in minor units (cents)


class InvalidEntry(ValueError):
    """A body that is not an entry; the message says why (the service answers 422 with it)."""


def validate_entry(obj: Any) -> tuple[str, int]:
    """``{"account": str, "amount": int}`` -> (account, amount). Amounts are integers (minor
    units): a float, a bool or a string is refused, as is an unknown key."""
    if not isinstance(obj, dict):
        raise InvalidEntry(f"expected a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - {"account", "amount"})
    if unknown:
        raise InvalidEntry(f"unknown field(s) {unknown}")
    account, amount = obj.get("account"), obj.get("amount")
    if not isinstance(account, str) or not ACCOUNT.match(account):
        raise InvalidEntry(f"account must be 1-64 of [A-Za-z0-9_.-], got {account!r}")
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidEntry(f"amount must be an integer (minor units), got {amount!r}")
    if abs(amount) > MAX_AMOUNT:
        raise InvalidEntry(f"|amount| must be at most {MAX_AMOUNT}, got {amount}")
    return account, amount


def parse_entry(raw: bytes) -> tuple[str, int]:
    """A request body (JSON bytes) -> (account, amount), or InvalidEntry."""
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidEntry(f"not JSON: {exc}") from None
    return validate_entry(obj)


def replay_balances(entries: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Each account's balance: the sum of its amounts, in order of first appearance."""
    out: dict[str, int] = {}
    get = out.get
    for account, amount in entries:
        out[account] = get(account, 0) + amount
    return out


def max_drawdowns(entries: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Each account's largest fall of its running balance from an earlier peak (the opening
    balance 0 counts as a peak): a risk-like aggregate over the whole history."""
    balance: dict[str, int] = {}
    peak: dict[str, int] = {}
    worst: dict[str, int] = {}
    for account, amount in entries:
        b = balance.get(account, 0) + amount
        balance[account] = b
        p = peak.get(account, 0)
        if b > p:
            peak[account] = p = b
        dd = p - b
        if dd > worst.get(account, 0):
            worst[account] = dd
        else:
            worst.setdefault(account, 0)
    return worst
