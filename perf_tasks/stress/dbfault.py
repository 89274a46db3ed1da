"""Database unreachable and back (spec §3.1 "database connection failures"), through the fault
proxy (:mod:`perf_tasks.stress.faultproxy`) between the service and PostgreSQL.

The service's documented behaviour (the bundled demo's, see its service app): while its store is away,
``/orders``, ``/portfolio`` and ``/ready`` answer 503 with ``Retry-After`` within
``--order-timeout-s`` (never a hang); it reopens the store and rebuilds from it on its own when
the database returns; no acknowledged order is lost or duplicated. Two ways to be away:

- ``db_outage``: the database goes down: open connections are reset and new ones refused;
- ``db_blackhole``: the database stops answering but connections stay open (a dead host behind a
  live network path): only the service's own timeout turns the hang into a 503.

Metrics: ``detect_ms`` (fault -> the first ``/ready`` 503 a prober sees), ``recover_ms`` (database
back -> ``/ready`` 200 again), ``first_order_ms`` (database back -> the first 201),
``outage_answer_max_ms`` (the slowest answer a client got while the database was away: the bound),
``hung_pct`` (order requests with no answer within the client's timeout), ``retry_after_missing_pct``
(of the 503s), ``recovered_pct`` (100: the service serves orders again by itself) and the no-loss
audit (``orders_lost_pct``, ``orders_duplicated_pct``, ``portfolio_mismatch_pct``).
"""
from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from perf_tasks.errors import UserError
from perf_tasks.results import BenchmarkResult
from perf_tasks.stress import service
from perf_tasks.stress.base import StressContext
from perf_tasks.stress.databases import pg_lock_files, postgres_database
from perf_tasks.stress.faultproxy import Faults, FaultProxy
from perf_tasks.stress.orders import ACCOUNTS, Ledger, OrderFlow, audit, fetch_portfolios, read_store
from perf_tasks.stress.outcome import Metrics, params_for, pct, scenario_result
from perf_tasks.stress.probe import Prober

log = logging.getLogger(__name__)

DEFAULTS = {
    "smoke": {"before_s": 1.0, "outage_s": 2.5, "after_s": 1.5, "threads": 3, "order_timeout_s": 1.0,
              "store_retry_s": 0.25, "client_timeout_s": 10.0, "recover_timeout_s": 30.0},
    "standard": {"before_s": 5.0, "outage_s": 15.0, "after_s": 5.0, "threads": 4, "order_timeout_s": 2.0,
                 "store_retry_s": 0.5, "client_timeout_s": 15.0, "recover_timeout_s": 60.0},
    "full": {"before_s": 30.0, "outage_s": 120.0, "after_s": 30.0, "threads": 8, "order_timeout_s": 2.0,
             "store_retry_s": 0.5, "client_timeout_s": 15.0, "recover_timeout_s": 120.0},
}


def _ms(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else 1000.0 * (b - a)


def database_away(ctx: StressContext, mode: str) -> BenchmarkResult:
    p = params_for(ctx, DEFAULTS)
    m = Metrics(ctx)
    t_start = time.monotonic()
    ledger = Ledger()
    info: dict[str, Any] = {"mode": mode}
    proxied = ""
    with postgres_database() as real_url:
        where = urlsplit(real_url)
        if where.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise UserError(f"db scenarios put the fault proxy in front of a loopback PostgreSQL; "
                            f"{where.hostname!r} is not loopback (PERF_STRESS_PG_URL)")
        proxy = FaultProxy("127.0.0.1", where.port or 5432, connect_timeout_s=2.0).start()
        try:
            netloc = where.netloc.rsplit("@", 1)
            proxied = urlunsplit(where._replace(netloc=(netloc[0] + "@" if len(netloc) == 2 else "")
                                                + f"127.0.0.1:{proxy.port}"))
            extra = service.scenario_args(ctx.system, ctx.name, p)
            with service.running(ctx.work, system=ctx.system, what=ctx.name, db=proxied, extra=extra) as handles:
                url = handles[0].url
                known_before = set(read_store(real_url).orders)
                prober = Prober(url, interval_s=0.02, timeout_s=p["order_timeout_s"] + 1.0).start()
                flow = OrderFlow(url, ledger, threads=p["threads"], seed=ctx.seed, timeout_s=p["client_timeout_s"])
                try:
                    flow.start()
                    time.sleep(p["before_s"])
                    t_fault = time.monotonic()
                    if mode == "outage":
                        proxy.set_faults(Faults(refuse=True))
                        info["connections_reset"] = proxy.reset_all()
                    else:
                        proxy.set_faults(Faults(blackhole=True))
                    t_detect = prober.wait_for(False, t_fault, timeout_s=p["outage_s"] + p["order_timeout_s"] + 5)
                    time.sleep(max(0.0, p["outage_s"] * ctx.intensity - (time.monotonic() - t_fault)))
                    n_before_back = len(ledger.latencies_s)
                    t_back = time.monotonic()
                    proxy.clear()  # a blackhole's stalled sessions are left as they are: the service must cope
                    t_ready = prober.wait_for(True, t_back, timeout_s=p["recover_timeout_s"])
                    time.sleep(p["after_s"])
                finally:
                    flow.stop()
                    prober.stop()
                try:
                    portfolios = fetch_portfolios(url, ACCOUNTS)
                except (OSError, RuntimeError) as exc:  # not recovered: the audit says so below
                    portfolios = {}
                    info["portfolio_error"] = str(exc)
            view = read_store(real_url)
            info["proxy"] = str(proxy.stats())
        finally:
            proxy.stop()
            for lock in pg_lock_files(proxied):
                lock.unlink(missing_ok=True)
    with ledger.lock:
        outage_lat = ledger.latencies_s[:n_before_back]
        t_first_ok = next((t for t in ledger.ok_t if t >= t_back), None)
        hung = ledger.count("no answer")
    outage_answers = outage_lat  # every answer before the database came back: the slowest bounds a client's wait
    a = audit(ledger, view, portfolios, known_before=known_before)
    m.add("detect_ms", _ms(t_fault, t_detect), samples=1)
    m.add("recover_ms", _ms(t_back, t_ready), samples=1)
    m.add("first_order_ms", _ms(t_back, t_first_ok), samples=1)
    m.add("outage_answer_max_ms", 1000.0 * max(outage_answers) if outage_answers else None,
          samples=len(outage_answers))
    m.add("hung_pct", pct(hung, ledger.requests), samples=ledger.requests)
    m.add("retry_after_missing_pct", pct(ledger.retry_after_missing, ledger.count("503")),
          samples=ledger.count("503"),
          no_data_reason="" if ledger.count("503") else "no 503 while the database was away")
    m.add("recovered_pct", 100.0 if t_ready is not None and t_first_ok is not None else 0.0, "higher", samples=1)
    m.add("orders_lost_pct", pct(a.lost, a.acked), samples=a.acked)
    m.add("orders_duplicated_pct", pct(a.duplicated, a.acked), samples=a.acked)
    m.add("portfolio_mismatch_pct", pct(a.portfolio_mismatch, len(portfolios)), samples=len(portfolios),
          no_data_reason="" if portfolios else f"portfolios unreadable after the outage: {info.get('portfolio_error')}")
    info.update({"acked": a.acked, "lost": a.lost, "duplicated": a.duplicated, "hung": hung,
                 "retry_after_missing": ledger.retry_after_missing, "portfolio_mismatch": a.portfolio_mismatch,
                 "statuses": dict(ledger.statuses), "unacked_stored": a.unacked_stored, "audit": list(a.details),
                 "order_timeout_s": p["order_timeout_s"], "store_retry_s": p["store_retry_s"]})
    log.info("%s: detect %.0f ms, recover %.0f ms, first 201 %.0f ms after, slowest outage answer %.0f ms, %s",
             ctx.name, m.value("detect_ms"), m.value("recover_ms"), m.value("first_order_ms"),
             m.value("outage_answer_max_ms"), ledger.statuses)
    return scenario_result(ctx, m, description=f"PostgreSQL {mode} through a fault proxy and back", params=p,
                           calls=ledger.requests, errors=hung + sum(v for k, v in ledger.statuses.items()
                                                                    if k.startswith("5")),
                           duration_s=time.monotonic() - t_start, info=info)


def db_outage(ctx: StressContext) -> BenchmarkResult:
    return database_away(ctx, "outage")


def db_blackhole(ctx: StressContext) -> BenchmarkResult:
    return database_away(ctx, "blackhole")
