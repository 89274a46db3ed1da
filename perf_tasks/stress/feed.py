"""Market-data feed failures (spec §3.1 "data feed failures", "external API failures"): the service
takes its ticks from an upstream feed (``--feed push``, ``POST /feed/ticks``); a publisher here
plays that feed and misbehaves on schedule while clients read quotes and risk.

The service's documented behaviour: a symbol whose last tick is older than ``--max-quote-age-s``
is stale: its quote says ``stale: true`` (with ``age_s``), and risk on an account holding it
answers 503 with Retry-After instead of pricing on old marks; seq gaps are counted and reported to
the publisher; a bad batch (unknown symbol, crossed quote) is refused whole with 422 naming the
tick; when ticks flow again everything is fresh at once.

Phases: normal, the feed stops (silent, like an upstream that times out), it resumes, a gap
(``gap_ticks`` seqs skipped on every symbol), a bad batch. Metrics: ``stale_detect_ms`` (the last tick
sent before the stall -> the first stale quote a client sees; at least the age limit itself),
``stale_detect_over_limit_ms`` (the same less the limit: the service's own lag), ``stale_recover_ms``
(feed back -> the first fresh quote), ``risk_recover_ms`` (feed back -> risk 200 again),
``risk_on_stale_pct`` (risk answered 200 although the feed had been silent past the age limit, of
the risk answers in the stall: must be 0), ``risk_refused_pct`` (503s of those, expected near 100),
``retry_after_missing_pct`` (of the 503s), ``unexpected_statuses_pct``, ``gaps_missed_pct`` (injected
gaps the service did not report), ``bad_batch_applied_pct`` (100 when the refused batch changed a
quote or was not refused: must be 0).
"""
from __future__ import annotations

import http.client
import logging
import random
import threading
import time
from typing import Any

from perf_tasks.results import BenchmarkResult
from perf_tasks.stress import service
from perf_tasks.stress.base import StressContext
from perf_tasks.stress.orders import SYMBOLS, Client
from perf_tasks.stress.outcome import Metrics, params_for, pct, scenario_result

log = logging.getLogger(__name__)

DEFAULTS = {
    "smoke": {"max_quote_age_s": 0.5, "publish_every_s": 0.05, "normal_s": 1.0, "stall_s": 1.5, "after_s": 1.0,
              "gap_ticks": 5},
    "standard": {"max_quote_age_s": 1.0, "publish_every_s": 0.02, "normal_s": 5.0, "stall_s": 5.0, "after_s": 5.0,
                 "gap_ticks": 50},
    "full": {"max_quote_age_s": 1.0, "publish_every_s": 0.01, "normal_s": 30.0, "stall_s": 30.0, "after_s": 30.0,
             "gap_ticks": 500},
}
ACCOUNT = "acct-1"  # holds a few seeded positions among SYM000..SYM015; the publisher covers every symbol


class Publisher:
    """Pushes one tick per symbol every ``every_s`` (seq +1 each) until paused or stopped."""

    def __init__(self, url: str, symbols: list[str], every_s: float, seed: int) -> None:
        self.client, self.symbols, self.every_s = Client(url, 5.0), symbols, every_s
        self.rng = random.Random(seed)
        self.seq = dict.fromkeys(symbols, 0)
        self.px = dict.fromkeys(symbols, 100.0)
        self.running = threading.Event()
        self.stopped = threading.Event()
        self.gaps_reported = 0
        self.last_sent = 0.0
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="feed-publisher", daemon=True)

    def batch(self, skip: int = 0) -> list[dict]:
        out = []
        for s in self.symbols:
            self.seq[s] += 1 + skip
            self.px[s] = max(1.0, self.px[s] + self.rng.choice((-0.01, 0.0, 0.01)))
            bid = round(self.px[s], 2)
            out.append({"symbol": s, "seq": self.seq[s], "bid": bid, "ask": round(bid + 0.01, 2), "last": bid,
                        "size": 100})
        return out

    def send(self, ticks: list[dict]) -> tuple[int, Any]:
        self.last_sent = time.monotonic()  # before the request: the tick arrives after this
        with self.lock:
            status, body, _ = self.client.call("POST", "/feed/ticks", {"ticks": ticks})
        if status == 200:
            self.gaps_reported += body["gaps"]
        return status, body

    def _run(self) -> None:
        while not self.stopped.is_set():
            if self.running.is_set():
                try:
                    status, body = self.send(self.batch())
                    if status != 200:
                        self.errors.append(f"{status} {body}")
                except (OSError, http.client.HTTPException) as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
            self.stopped.wait(self.every_s)

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        self.client.close()


class Watcher:
    """Reads a quote of a symbol the account holds, then the account's risk, back to back; keeps
    (time, quote stale?, risk status, Retry-After present?)."""

    def __init__(self, url: str, symbol: str) -> None:
        self.client, self.symbol = Client(url, 5.0), symbol
        self.samples: list[tuple[float, bool, int, bool]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="feed-watcher", daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                _, q, _ = self.client.call("GET", f"/market-data/{self.symbol}?bars=0")
                status, _, headers = self.client.call("GET", f"/risk/{ACCOUNT}?method=parametric")
                self.samples.append((time.monotonic(), bool(q["stale"]), status, "retry-after" in headers))
            except (OSError, http.client.HTTPException, KeyError, TypeError):  # no answer: an unexpected status
                self.samples.append((time.monotonic(), False, 0, False))
            self.stop.wait(0.01)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.client.close()


def feed_outage(ctx: StressContext) -> BenchmarkResult:
    p = params_for(ctx, DEFAULTS)
    m = Metrics(ctx)
    t_start = time.monotonic()
    info: dict[str, Any] = {}
    ctx.work.mkdir(parents=True, exist_ok=True)
    extra = service.scenario_args(ctx.system, ctx.name, p,
                                  required="the arguments that make the service take the pushed feed")
    with service.running(ctx.work, system=ctx.system, what=ctx.name, db="none", extra=extra) as handles:
        url = handles[0].url
        c = Client(url)
        try:
            _, univ, _ = c.call("GET", "/universe")
            _, pf, _ = c.call("GET", f"/portfolio/{ACCOUNT}")
        finally:
            c.close()
        held = sorted(pos["symbol"] for pos in pf["positions"] if pos["quantity"])
        pub = Publisher(url, list(univ["symbols"]), p["publish_every_s"], ctx.seed)
        watch = Watcher(url, held[0])
        pub.running.set()
        pub.thread.start()
        time.sleep(0.2)  # every symbol has a pushed tick before the watcher starts
        watch.thread.start()
        try:
            time.sleep(p["normal_s"])
            pub.running.clear()
            with pub.lock:  # a batch in flight lands before the stall counts from its send
                t_stop = time.monotonic()
            t_last = pub.last_sent
            time.sleep(p["stall_s"] * ctx.intensity)
            t_back = time.monotonic()
            pub.running.set()
            time.sleep(p["after_s"])
            # a gap on every symbol
            status, gap_ack = pub.send(pub.batch(skip=p["gap_ticks"]))
            injected_gaps = len(univ["symbols"])
            # a bad batch: one good tick with a wild price, then a crossed quote; nothing may apply
            c = Client(url)
            try:
                _, before, _ = c.call("GET", f"/market-data/{held[0]}?bars=0")
                bad = [{"symbol": held[0], "seq": pub.seq[held[0]] + 1, "bid": 9999.0, "ask": 9999.01,
                        "last": 9999.0, "size": 100},
                       {"symbol": held[0], "seq": pub.seq[held[0]] + 2, "bid": 10.0, "ask": 9.0, "last": 10.0,
                        "size": 100}]
                with pub.lock:
                    bad_status, bad_body, _ = pub.client.call("POST", "/feed/ticks", {"ticks": bad})
                _, after, _ = c.call("GET", f"/market-data/{held[0]}?bars=0")
            finally:
                c.close()
        finally:
            watch.close()
            pub.close()
    samples = watch.samples
    max_age = p["max_quote_age_s"]
    t_stale = next((t for t, stale, _, _ in samples if t >= t_stop and stale), None)
    t_fresh = next((t for t, stale, _, _ in samples if t >= t_back and not stale), None)
    t_risk = next((t for t, _, st, _ in samples if t >= t_back and st == 200), None)
    # risk answers in the stall, once the feed had been silent longer than the age limit when asked
    # (a sample's time is when its risk answer came; the pair took well under 0.1 s)
    stalled = [(st, ra) for t, _, st, ra in samples if t_last + max_age + 0.1 <= t <= t_back]
    risk_on_stale = sum(1 for st, _ in stalled if st == 200)
    refused = sum(1 for st, _ in stalled if st == 503)
    n503 = sum(1 for _, _, st, _ in samples if st == 503)
    no_retry = sum(1 for _, _, st, ra in samples if st == 503 and not ra)
    other = sum(1 for _, _, st, _ in samples if st not in (200, 503))
    m.add("stale_detect_ms", None if t_stale is None else 1000 * (t_stale - t_last), samples=1)
    m.add("stale_detect_over_limit_ms", None if t_stale is None else max(0.0, 1000 * (t_stale - t_last - max_age)),
          samples=1)
    m.add("stale_recover_ms", None if t_fresh is None else 1000 * (t_fresh - t_back), samples=1)
    m.add("risk_recover_ms", None if t_risk is None else 1000 * (t_risk - t_back), samples=1)
    m.add("risk_on_stale_pct", pct(risk_on_stale, len(stalled)), samples=len(stalled))
    m.add("risk_refused_pct", pct(refused, len(stalled)), "higher", samples=len(stalled))
    m.add("retry_after_missing_pct", pct(no_retry, n503), samples=n503)
    m.add("unexpected_statuses_pct", pct(other, len(samples)), samples=len(samples))
    m.add("gaps_missed_pct", pct(max(0, injected_gaps - (gap_ack or {}).get("gaps", 0)), injected_gaps)
          if status == 200 else None, samples=injected_gaps)
    m.add("bad_batch_applied_pct", 100.0 * (after["last"] != before["last"] or bad_status != 422), samples=1)
    info.update({"stale_detect_signed_ms": None if t_stale is None else round(1000 * (t_stale - t_last - max_age), 1),
                 "risk_on_stale": risk_on_stale, "risk_refused": refused, "held_symbol": held[0],
                 "max_quote_age_s": max_age, "gap_ack": gap_ack, "bad_batch": bad_body,
                 "publisher_errors": pub.errors[:5], "samples": len(samples)})
    return scenario_result(ctx, m, description="upstream feed stops, resumes, gaps and sends a bad batch",
                           params=p, calls=2 * len(samples), errors=other, duration_s=time.monotonic() - t_start,
                           info=info)
