"""The per-worker state of the service and how it is built.

Each worker process builds its own state after the server is up (so ``/health`` answers at
once and ``/ready`` turns 200 when the build is done): the replayed market data, the risk
universe, the models and the trading desk with its store. Nothing is shared between workers
except, with ``--db postgresql://``, the database server (see :mod:`trading_agent.service.storage`).

Threads: market data lives on the event loop's thread; the engine, its positions and its store
live on one dedicated *engine thread* (the engine is not thread-safe and a SQLite connection is
bound to its thread; one thread also keeps database round trips off the event loop); risk and
model work runs in the server's thread pool on immutable inputs.
"""
from __future__ import annotations

import asyncio
import functools
import gc
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from starlette.concurrency import run_in_threadpool

from trading_agent.service.config import ServiceConfig
from trading_agent.service.desk import TradingDesk
from trading_agent.service.market import MarketFeed
from trading_agent.service.risk import RiskModel
from trading_agent.service.storage import WorkerStore, open_worker_store

if TYPE_CHECKING:
    from trading_agent.service.recommend import Recommender

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(eq=False)
class ServiceState:
    """A built worker: see the module docstring for which thread owns what."""

    config: ServiceConfig
    feed: MarketFeed
    desk: TradingDesk
    risk: RiskModel
    recommender: Recommender
    store: WorkerStore
    engine_thread: ThreadPoolExecutor
    build_s: float

    async def on_engine(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the engine thread and wait for it without blocking the loop."""
        return await asyncio.get_running_loop().run_in_executor(self.engine_thread, functools.partial(fn, *args))


@dataclass(eq=False)
class StateHolder:
    """What ``/ready`` reports: the build's status, then the state or the error."""

    started_s: float = field(default_factory=time.monotonic)
    status: Literal["starting", "ready", "failed"] = "starting"
    state: ServiceState | None = None
    error: str | None = None
    store: WorkerStore | None = None  # set as soon as it is opened, so shutdown closes it
    engine_thread: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine"))


def _build_recommender(config: ServiceConfig, symbols: tuple[str, ...], live: dict) -> Recommender:
    from trading_agent.service.recommend import Recommender  # imports torch (~1.5 s): off the loop

    return Recommender.build(symbols, live, config.seed, cnn_lstm_path=config.cnn_lstm_path,
                             policy_path=config.policy_path)


async def build_state(config: ServiceConfig, holder: StateHolder) -> ServiceState:
    """Build every part; CPU-heavy steps run in threads so the loop keeps answering probes."""
    t0 = time.perf_counter()
    loop = asyncio.get_running_loop()
    feed = await run_in_threadpool(MarketFeed.replay, config.n_ticks, config.n_symbols, config.seed,
                                   advance_ticks=config.advance_ticks)
    live = {s: feed.live(s) for s in feed.symbols}
    quotes = {s: (feed.handler.state[s].bid, feed.handler.state[s].ask) for s in feed.symbols}
    models = asyncio.ensure_future(run_in_threadpool(_build_recommender, config, feed.symbols, live))
    risk = asyncio.ensure_future(run_in_threadpool(RiskModel.seeded, config.n_symbols, config.seed,
                                                   config.history_days))
    try:
        holder.store = await loop.run_in_executor(holder.engine_thread, open_worker_store, config.db, config.workers)
        desk = await loop.run_in_executor(holder.engine_thread, functools.partial(
            TradingDesk.open, feed.symbols, quotes, config.n_accounts, config.seed, holder.store.store))
        recommender, risk_model = await asyncio.gather(models, risk)
    except BaseException:
        for task in (models, risk):
            task.cancel()
        raise
    # Move the ~250k start-up objects (torch, pandas, pydantic, the state) out of the collector's
    # view: a full collection over them measured ~120 ms, a pause of the event loop that would
    # otherwise hit whichever requests are in flight whenever it triggers under load.
    gc.collect()
    gc.freeze()
    build_s = time.perf_counter() - t0
    log.info("worker state built in %.2f s: %d symbols, %d accounts, store %s", build_s, len(feed.symbols),
             len(desk.account_names), holder.store.description)
    return ServiceState(config, feed, desk, risk_model, recommender, holder.store, holder.engine_thread, build_s)


def reopen_store(st: ServiceState, holder: StateHolder, quotes: dict[str, tuple[float, float]]) -> float:
    """After the order store failed (the engine is fail-stopped): close it, open it again and
    rebuild the desk from it, as a restart would (books, positions, open quantities, order ids);
    returns the seconds it took. Raises whatever opening or rebuilding raises (the database is
    still away: the caller tries again later). Runs on the engine thread, so no order is handled
    between the close and the swap; orders that were acknowledged are in the store, the one whose
    save failed was never acknowledged (it may be stored: a commit whose answer was lost)."""
    t0 = time.perf_counter()
    old = st.store
    try:
        old.close()
    except Exception as exc:  # a broken connection may fail to close cleanly; it is dropped anyway
        log.debug("closing the failed store %s: %s", old.description, exc)
    store = open_worker_store(st.config.db, st.config.workers)
    try:
        desk = TradingDesk.open(st.feed.symbols, quotes, st.config.n_accounts, st.config.seed, store.store)
    except BaseException:
        store.close()
        raise
    st.store = holder.store = store
    st.desk = desk
    return time.perf_counter() - t0


async def close_holder(holder: StateHolder) -> None:
    """Close the store on its own thread, then stop the engine thread."""
    loop = asyncio.get_running_loop()
    if holder.store is not None:
        try:
            await loop.run_in_executor(holder.engine_thread, holder.store.close)
        except Exception:
            log.exception("closing the order store %s failed", holder.store.description)
    holder.engine_thread.shutdown(wait=True)
