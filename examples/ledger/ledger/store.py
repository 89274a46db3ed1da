"""The ledger's store: Redis, spoken over a plain TCP socket with a tiny RESP2 client.

No Redis library: the point of this example is a system that shares no dependency with the
platform that tests it. The client is small on purpose:

* every call has a hard deadline: connecting takes at most ``connect_timeout_s`` and a whole
  exchange (request written, every reply read) at most ``timeout_s``; a store that refuses,
  resets or blackholes answers :class:`StoreUnavailable` within that bound, never a hang;
* a connection that failed in any way is closed and never reused; the next call opens a new
  one, so the service survives the store going away and coming back without a restart;
* connections are pooled (a few idle ones kept), one exchange at a time each, thread-safe.

Store URL: ``redis://HOST:PORT/DB?prefix=P`` (DB defaults to 0, P to ``ledger``). Every key lives
under ``P:``:

======================  ======  ==================================================
key                     type    what
======================  ======  ==================================================
``P:next_id``           string  the last entry id handed out (``INCR``: never reused)
``P:entry:<id>``        hash    ``id``, ``account``, ``amount``, ``seq``
``P:acct:<a>:ids``      list    the account's entry ids, in order (``seq`` = position)
``P:acct:<a>:balance``  string  the account's balance (``INCRBY`` of every amount)
``P:accounts``          set     every account with an entry
======================  ======  ==================================================

An entry is written by one Lua script (atomic in Redis): ``INCR`` of the id, the list, the hash,
the balance and the set change together or not at all, and the script has returned, so the write
is in the store, before the service acknowledges it (201). How durable Redis itself is (AOF,
fsync) is the store's configuration; what this service guarantees is that it never acknowledges
a write the store does not hold.
"""
from __future__ import annotations

import queue
import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEFAULT_PREFIX = "ledger"
_PREFIX = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")  # no glob characters: SCAN MATCH '<prefix>:*' is exact


class StoreError(Exception):
    """Base of the store's errors."""


class StoreUnavailable(StoreError):
    """The store could not be reached or did not answer in time (retry later)."""


class ReplyError(StoreError):
    """The store answered with an error (``-ERR ...``)."""


@dataclass(frozen=True)
class StoreAddress:
    host: str
    port: int
    db: int = 0
    prefix: str = DEFAULT_PREFIX

    def key(self, *parts: object) -> str:
        return ":".join((self.prefix, *map(str, parts)))

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"redis://{host}:{self.port}/{self.db}?prefix={self.prefix}"

    def with_endpoint(self, host: str, port: int) -> StoreAddress:
        """The same database and prefix behind another address (e.g. a fault proxy's)."""
        return StoreAddress(host, int(port), self.db, self.prefix)


def parse_url(url: str) -> StoreAddress:
    """``redis://HOST:PORT/DB?prefix=P`` -> :class:`StoreAddress`; ValueError naming what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != "redis":
        raise ValueError(f"store URL {url!r}: expected redis://HOST:PORT/DB?prefix=P")
    if not parts.hostname:
        raise ValueError(f"store URL {url!r}: no host")
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ValueError(f"store URL {url!r}: the database must be a number, got {path!r}")
    query = parse_qs(parts.query)
    unknown = sorted(set(query) - {"prefix"})
    if unknown:
        raise ValueError(f"store URL {url!r}: unknown parameter(s) {unknown} (known: prefix)")
    prefix = query.get("prefix", [DEFAULT_PREFIX])[-1]
    if not _PREFIX.match(prefix):
        raise ValueError(f"store URL {url!r}: prefix {prefix!r} must be 1-100 of [A-Za-z0-9_.-]")
    return StoreAddress(parts.hostname, parts.port or 6379, int(path or 0), prefix)


# -- RESP2 ------------------------------------------------------------------------------------

def encode(*args: object) -> bytes:
    """One command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


_NEED_MORE = object()


class RespParser:
    """Incremental RESP2 parser: :meth:`feed` bytes, :meth:`get` a reply (or ``None`` when more
    bytes are needed; a null reply comes back as :data:`NULL`). Error replies are
    :class:`ReplyError` instances, returned, not raised, so a pipeline reads every reply."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data: bytes) -> None:
        if self._pos:
            del self._buf[:self._pos]
            self._pos = 0
        self._buf += data

    def get(self) -> Any:
        start = self._pos
        value = self._parse()
        if value is _NEED_MORE:
            self._pos = start
            return None
        return value

    def _line(self) -> bytes | object:
        end = self._buf.find(b"\r\n", self._pos)
        if end < 0:
            return _NEED_MORE
        line = bytes(self._buf[self._pos:end])
        self._pos = end + 2
        return line

    def _parse(self) -> Any:
        line = self._line()
        if line is _NEED_MORE:
            return _NEED_MORE
        assert isinstance(line, bytes)
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return ReplyError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return NULL
            if len(self._buf) - self._pos < n + 2:
                return _NEED_MORE
            value = bytes(self._buf[self._pos:self._pos + n])
            self._pos += n + 2
            return value
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return NULL
            items = []
            for _ in range(n):
                item = self._parse()
                if item is _NEED_MORE:
                    return _NEED_MORE
                items.append(item)
            return items
        raise StoreError(f"not a RESP reply: {line[:40]!r}")


class _Null:
    def __repr__(self) -> str:
        return "NULL"

    def __bool__(self) -> bool:
        return False


NULL = _Null()


class Connection:
    """One socket to Redis; :meth:`pipeline` sends several commands at once and reads every reply
    within one deadline. Any failure closes it (:attr:`broken`)."""

    def __init__(self, address: StoreAddress, *, connect_timeout_s: float, timeout_s: float) -> None:
        self.address, self.timeout_s = address, timeout_s
        self.broken = False
        try:
            self.sock = socket.create_connection((address.host, address.port), timeout=connect_timeout_s)
        except OSError as exc:
            raise StoreUnavailable(f"cannot connect to {address.host}:{address.port}: {exc}") from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.parser = RespParser()
        if address.db:
            reply = self.pipeline([("SELECT", address.db)])[0]
            if isinstance(reply, ReplyError):
                self.close()
                raise StoreError(f"SELECT {address.db}: {reply}")

    def pipeline(self, commands: list[tuple[object, ...]]) -> list[Any]:
        deadline = time.monotonic() + self.timeout_s
        try:
            self.sock.settimeout(self.timeout_s)
            self.sock.sendall(b"".join(encode(*c) for c in commands))
            replies: list[Any] = []
            while len(replies) < len(commands):
                reply = self.parser.get()
                if reply is not None:
                    replies.append(reply)
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no complete answer within {self.timeout_s:g} s")
                self.sock.settimeout(left)
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("the store closed the connection")
                self.parser.feed(data)
            return replies
        except (OSError, StoreError) as exc:
            self.close()
            raise StoreUnavailable(f"store {self.address.host}:{self.address.port}: {type(exc).__name__}: "
                                   f"{exc}") from None

    def close(self) -> None:
        self.broken = True
        try:
            self.sock.close()
        except OSError:
            pass


# An entry in one atomic step: KEYS = next_id, entry key prefix, account ids, account balance,
# accounts; ARGV = account, amount. Returns {id, seq, balance}.
_APPEND = """
local id = redis.call('INCR', KEYS[1])
local seq = redis.call('RPUSH', KEYS[3], id)
redis.call('HSET', KEYS[2] .. id, 'id', id, 'account', ARGV[1], 'amount', ARGV[2], 'seq', seq)
local balance = redis.call('INCRBY', KEYS[4], ARGV[2])
redis.call('SADD', KEYS[5], ARGV[1])
return {id, seq, balance}
"""


class Store:
    """The ledger's data in Redis (module docstring), through a small pool of connections."""

    def __init__(self, address: StoreAddress | str, *, connect_timeout_s: float = 0.5, timeout_s: float = 1.0,
                 max_idle: int = 16) -> None:
        self.address = parse_url(address) if isinstance(address, str) else address
        self.connect_timeout_s, self.timeout_s = connect_timeout_s, timeout_s
        self._idle: queue.LifoQueue[Connection] = queue.LifoQueue(maxsize=max_idle)
        self._lock = threading.Lock()
        self.connects = 0  # connections opened (a reconnect after a failure counts)

    # -- plumbing ----------------------------------------------------------------------------

    def execute(self, *commands: tuple[object, ...]) -> list[Any]:
        """Replies of ``commands``, sent as one pipeline; an error reply raises ReplyError (after
        every reply was read: the connection stays usable)."""
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = Connection(self.address, connect_timeout_s=self.connect_timeout_s, timeout_s=self.timeout_s)
            with self._lock:
                self.connects += 1
        replies = conn.pipeline(list(commands))  # closes conn and raises StoreUnavailable on failure
        try:
            self._idle.put_nowait(conn)
        except queue.Full:
            conn.close()
        for r in replies:
            if isinstance(r, ReplyError):
                raise r
        return replies

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

    # -- the ledger --------------------------------------------------------------------------

    def ping(self) -> bool:
        """True when the store answers (False instead of StoreUnavailable)."""
        try:
            return self.execute(("PING",))[0] == "PONG"
        except StoreError:
            return False

    def append(self, account: str, amount: int) -> dict[str, Any]:
        """Write one entry atomically; returns ``{"id", "account", "amount", "seq", "balance"}`` once
        the store holds it."""
        a = self.address
        entry_id, seq, balance = self.execute(
            ("EVAL", _APPEND, 5, a.key("next_id"), a.key("entry", ""), a.key("acct", account, "ids"),
             a.key("acct", account, "balance"), a.key("accounts"), account, amount))[0]
        return {"id": int(entry_id), "account": account, "amount": int(amount), "seq": int(seq),
                "balance": int(balance)}

    def balance(self, account: str) -> tuple[int, int]:
        """(balance, number of entries) of ``account``, read together (0, 0 for an unknown one)."""
        a = self.address
        replies = self.execute(("MULTI",), ("GET", a.key("acct", account, "balance")),
                               ("LLEN", a.key("acct", account, "ids")), ("EXEC",))
        raw, count = replies[-1]
        return (int(raw) if raw else 0), int(count)

    def entry(self, entry_id: int) -> dict[str, Any] | None:
        flat = self.execute(("HGETALL", self.address.key("entry", int(entry_id))))[0]
        return _entry(flat) if flat else None

    def entries(self, ids: list[int], *, batch: int = 500) -> dict[int, dict[str, Any] | None]:
        """Several entries by id (pipelined), ``None`` for an id with no entry."""
        out: dict[int, dict[str, Any] | None] = {}
        for i in range(0, len(ids), batch):
            part = ids[i:i + batch]
            replies = self.execute(*(("HGETALL", self.address.key("entry", int(e))) for e in part))
            out.update({int(e): (_entry(r) if r else None) for e, r in zip(part, replies)})
        return out

    def accounts(self) -> list[str]:
        return sorted(m.decode() for m in self.execute(("SMEMBERS", self.address.key("accounts")))[0])

    def entry_ids(self, account: str) -> list[int]:
        """The account's entry ids in the order they were written (an id twice: stored twice)."""
        return [int(v) for v in self.execute(("LRANGE", self.address.key("acct", account, "ids"), 0, -1))[0]]

    def stored_balance(self, account: str) -> int:
        raw = self.execute(("GET", self.address.key("acct", account, "balance")))[0]
        return int(raw) if raw else 0

    def last_id(self) -> int:
        raw = self.execute(("GET", self.address.key("next_id")))[0]
        return int(raw) if raw else 0

    def keys(self) -> list[str]:
        """Every key under the prefix (SCAN, never KEYS)."""
        cursor, found = b"0", []
        while True:
            cursor, batch = self.execute(("SCAN", cursor, "MATCH", f"{self.address.prefix}:*", "COUNT", 1000))[0]
            found += [k.decode() for k in batch]
            if cursor in (b"0", "0"):
                return sorted(set(found))

    def delete_all(self) -> int:
        """Delete every key under the prefix; returns how many."""
        keys = self.keys()
        deleted = 0
        for i in range(0, len(keys), 500):
            deleted += int(self.execute(("DEL", *keys[i:i + 500]))[0])
        return deleted


def _entry(flat: list[bytes]) -> dict[str, Any]:
    d = {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}
    return {"id": int(d["id"]), "account": d["account"], "amount": int(d["amount"]), "seq": int(d["seq"])}
