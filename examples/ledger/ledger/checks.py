"""Checks after a fault, reading the store directly (never through the service), and a scratch
store for a test or a scenario.

Hooks (``module:function``, e.g. ``ledger.checks:no_acknowledged_write_lost``):

``no_acknowledged_write_lost(store_url, acknowledged, *, known_before=())``
    every entry a client got a 201 for is in the store exactly once (its id in exactly one
    account's list, once) with the account and amount it was acknowledged with.
    ``acknowledged``: the 201 bodies as the clients received them (dicts with ``id``, ``account``,
    ``amount``); ``known_before``: ids stored before the run (not counted as unacknowledged).

``state_equals_store(base_url, store_url, *, accounts=None)``
    the balance and entry count the service shows (``GET /balance/<a>``) equal what the store's
    entries add up to, for ``accounts`` (default: every account in the store).

Both return a :class:`CheckResult`: ``ok``, how many things were ``checked``, ``counts`` by kind and
the first ``problems`` in words. A store that cannot be read raises
:class:`ledger.store.StoreUnavailable` (the check could not be made: not a pass, not a loss).
"""
from __future__ import annotations

import http.client
import json
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ledger.model import replay_balances
from ledger.store import Store, StoreAddress, StoreUnavailable, parse_url

MAX_PROBLEMS = 10


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    checked: int
    counts: dict[str, int] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def pct(self, kind: str) -> float:
        """``counts[kind]`` as a share (%) of what was checked (0 when nothing was)."""
        return 100.0 * self.counts.get(kind, 0) / self.checked if self.checked else 0.0


def _store(store_url: str | StoreAddress) -> Store:
    return Store(store_url, connect_timeout_s=2.0, timeout_s=10.0)


def read_entries(store_url: str | StoreAddress) -> tuple[dict[str, list[int]], dict[int, dict[str, Any] | None]]:
    """(account -> its entry ids in order, id -> stored entry) of the whole store."""
    store = _store(store_url)
    try:
        lists = {a: store.entry_ids(a) for a in store.accounts()}
        ids = sorted({i for ids in lists.values() for i in ids})
        return lists, store.entries(ids)
    finally:
        store.close()


def no_acknowledged_write_lost(store_url: str, acknowledged: Iterable[Mapping[str, Any]], *,
                               known_before: Iterable[int] = ()) -> CheckResult:
    """Every acknowledged (201) entry is stored exactly once, as acknowledged (module docstring).

    counts: ``acknowledged``; ``lost`` (acknowledged, not stored); ``duplicated`` (an id stored
    more than once, in one list or several, or acknowledged twice); ``mismatched`` (stored with
    another account or amount than acknowledged); ``unacknowledged_stored`` (stored, nobody saw a
    201: in flight at the fault; recorded, never a failure)."""
    acked = list(acknowledged)
    lists, entries = read_entries(store_url)
    where = Counter(i for ids in lists.values() for i in ids)
    owner = {i: a for a, ids in lists.items() for i in ids}
    problems: list[str] = []
    counts = Counter({"acknowledged": len(acked), "lost": 0, "duplicated": 0, "mismatched": 0})

    def note(text: str) -> None:
        if len(problems) < MAX_PROBLEMS:
            problems.append(text)

    seen = Counter(int(a["id"]) for a in acked)
    for entry_id, n in sorted(seen.items()):
        if n > 1:
            counts["duplicated"] += n - 1
            note(f"entry id {entry_id} acknowledged {n} times")
    for ack in acked:
        entry_id = int(ack["id"])
        stored = entries.get(entry_id)
        if stored is None or where[entry_id] == 0:
            counts["lost"] += 1
            note(f"entry {entry_id} ({ack['account']} {ack['amount']:+d}) acknowledged, not in the store")
            continue
        if where[entry_id] > 1:
            counts["duplicated"] += 1
            note(f"entry {entry_id} stored {where[entry_id]} times")
        if (stored["account"], stored["amount"]) != (ack["account"], int(ack["amount"])) or owner[entry_id] != ack["account"]:
            counts["mismatched"] += 1
            note(f"entry {entry_id} acknowledged as {ack['account']} {int(ack['amount']):+d}, stored as "
                 f"{stored['account']} {stored['amount']:+d} in the list of {owner[entry_id]}")
    counts["unacknowledged_stored"] = len(set(where) - set(seen) - {int(i) for i in known_before})
    ok = counts["lost"] == counts["duplicated"] == counts["mismatched"] == 0
    return CheckResult(ok, len(acked), dict(counts), tuple(problems))


def _get_json(base_url: str, path: str, timeout_s: float, conn: list[http.client.HTTPConnection]) -> tuple[int, Any]:
    if not conn:
        parts = urlsplit(base_url)
        conn.append(http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout_s))
    try:
        conn[0].request("GET", path)
        r = conn[0].getresponse()
        raw = r.read()
    except (OSError, http.client.HTTPException):
        conn.pop().close()
        raise
    return r.status, (json.loads(raw) if raw else None)


def state_equals_store(base_url: str, store_url: str, *, accounts: Iterable[str] | None = None,
                       timeout_s: float = 5.0) -> CheckResult:
    """The service's balances equal what the store's entries add up to (module docstring).

    counts: ``accounts`` checked; ``mismatched`` (served balance or entry count differs from the
    store's entries); ``unanswered`` (no 200 from the service); ``store_inconsistent`` (the
    store's own balance key differs from its entries: a write that was half applied)."""
    lists, entries = read_entries(store_url)
    names = sorted(lists) if accounts is None else list(dict.fromkeys(accounts))
    problems: list[str] = []
    counts = Counter({"accounts": len(names), "mismatched": 0, "unanswered": 0, "store_inconsistent": 0})
    store = _store(store_url)
    conn: list[http.client.HTTPConnection] = []
    try:
        for account in names:
            ids = lists.get(account, [])
            rows = [entries.get(i) for i in ids]
            want = replay_balances((account, r["amount"]) for r in rows if r is not None).get(account, 0)
            if store.stored_balance(account) != want:
                counts["store_inconsistent"] += 1
                if len(problems) < MAX_PROBLEMS:
                    problems.append(f"store: balance key of {account} is {store.stored_balance(account)}, "
                                    f"its entries add up to {want}")
            try:
                status, body = _get_json(base_url, f"/balance/{account}", timeout_s, conn)
            except (OSError, http.client.HTTPException) as exc:
                status, body = None, str(exc)
            if status != 200 or not isinstance(body, dict):
                counts["unanswered"] += 1
                if len(problems) < MAX_PROBLEMS:
                    problems.append(f"GET /balance/{account}: {status or 'no answer'} {body}")
                continue
            if (int(body["balance"]), int(body["entries"])) != (want, len(ids)):
                counts["mismatched"] += 1
                if len(problems) < MAX_PROBLEMS:
                    problems.append(f"{account}: served balance {body['balance']} over {body['entries']} entries, "
                                    f"store's entries say {want} over {len(ids)}")
    finally:
        store.close()
        for c in conn:
            c.close()
    ok = counts["mismatched"] == counts["unanswered"] == counts["store_inconsistent"] == 0
    return CheckResult(ok, len(names), dict(counts), tuple(problems))


# -- a scratch store ------------------------------------------------------------------------

def via(store_url: str, host: str, port: int) -> str:
    """The same store (database, prefix) reached through ``host:port`` (e.g. a fault proxy)."""
    return parse_url(store_url).with_endpoint(host, port).url


@contextmanager
def scratch_store(base_url: str = "redis://127.0.0.1:6379/0", *, label: str = "scratch") -> Iterator[str]:
    """A fresh, empty store: ``base_url``'s server and database under a unique prefix
    (``<label>-<12 hex>``); yields its URL and deletes every key under that prefix afterwards (also
    when the body raised). Raises StoreUnavailable at once when the server does not answer."""
    base = parse_url(base_url)
    address = StoreAddress(base.host, base.port, base.db, f"{label}-{uuid.uuid4().hex[:12]}")
    store = _store(address)
    try:
        if not store.ping():
            raise StoreUnavailable(f"no Redis answers at {base.host}:{base.port} (scratch store for {label!r})")
        yield address.url
    finally:
        try:
            store.delete_all()
        except StoreUnavailable:
            pass
        store.close()
