"""The FastAPI application: probes, market data, portfolio, risk, recommendations and orders.

Endpoint placement (why the event loop never waits on heavy work):

- market data: ``async``, on the loop (a few microseconds: one dict lookup, a few floats);
- portfolio and orders: ``async``, awaiting the single engine thread (see
  :mod:`trading_agent.service.state`), which also does the order store's I/O;
- risk and recommendations: ``async`` wrappers that snapshot their inputs on the loop (or the
  engine thread) and compute in the thread pool (numpy and torch release the GIL in their
  kernels; one torch thread per worker).

Bad input is a 4xx, never a 500: bodies over ``--max-body-bytes`` get 413 unread, malformed ones
422 with a bounded excerpt of the input (:mod:`trading_agent.service.guards`), orders the engine
refuses 422 with its reason.

When the order store fails (its database is unreachable, a disk error), the engine stops taking
orders (fail-stop: memory may be ahead of the store): ``/orders``, ``/portfolio`` and ``/ready``
answer 503 with ``Retry-After``, and every ``--store-retry-s`` the worker tries to reopen the store
and rebuild its desk from it (as a restart would); when that succeeds it serves again on its own.
(Not the default temporary store: reopening would make a new, empty one, so that worker stays
failed until restarted.)
A call that waits more than ``--order-timeout-s`` for the engine (a database that stopped answering
without closing the connection) answers 503 with ``Retry-After`` and aborts the stuck database
call, which fails the store the same way. An order is acknowledged only by a 201: a 503 means it
was not (it may still be stored, if its commit went through and the answer was lost).

Every worker process has its own state: its own market data, engine, books, positions and
store. With ``--workers N`` a client's requests land on whichever worker accepts the
connection, so an order resting in one worker's book never matches an order sent to another,
and a portfolio seen through one worker does not show fills made in another.
"""
from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from trading_agent.service.config import ServiceConfig, config_from_env
from trading_agent.service.desk import UnknownAccountError
from trading_agent.service.guards import BodyLimit, validation_detail
from trading_agent.service.market import MAX_BARS_OUT, BadTickError, UnknownSymbolError
from trading_agent.service.risk import assess
from trading_agent.service.schemas import (MAX_SCENARIOS, ErrorOut, Health, MarketData, OrderOut, OrderRequest,
                                           PortfolioOut, Readiness, RecommendationOut, RiskOut, RiskRequest,
                                           TicksIn, Universe, ValidationErrorOut, VarMethod, FeedAck)
from trading_agent.service.state import ServiceState, StateHolder, build_state, close_holder, reopen_store
from trading_agent.trading.engine import StoreFailedError

log = logging.getLogger(__name__)
Builder = Callable[[ServiceConfig, StateHolder], Awaitable[ServiceState]]


class NotReadyError(RuntimeError):
    """A request arrived before this worker's state was built (or after its build failed)."""


class StaleDataError(RuntimeError):
    """Risk was asked on marks older than ``max_quote_age_s``; the message names the symbols."""


class StoreTimeoutError(RuntimeError):
    """The engine thread (busy with the order store) did not answer within ``order_timeout_s``."""


_NOT_FOUND = {404: {"model": ErrorOut, "description": "unknown symbol or account"}}
_NOT_READY = {503: {"model": ErrorOut, "description": "the worker's state is not built yet, its order store "
                                                       "failed, or (risk) its market data is stale; see Retry-After"}}
Symbol = Annotated[str, Path(min_length=1, max_length=32, examples=["SYM001"])]
Account = Annotated[str, Path(min_length=1, max_length=64, examples=["acct-1"])]


def _state(request: Request) -> ServiceState:
    holder: StateHolder = request.app.state.holder
    if holder.state is None:
        raise NotReadyError(f"worker {os.getpid()} is not ready: {holder.status}"
                            + (f" ({holder.error})" if holder.error else ""))
    return holder.state


def create_app(config: ServiceConfig | None = None, *, builder: Builder = build_state) -> FastAPI:
    """The app for one worker; ``builder`` makes its state after start-up (injectable for tests)."""
    cfg = config or ServiceConfig()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        holder = app.state.holder = StateHolder()

        async def build() -> None:
            try:
                holder.state = await builder(cfg, holder)
                holder.status = "ready"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # reported by /ready and logged; the probes keep answering
                holder.status, holder.error = "failed", f"{type(exc).__name__}: {exc}"
                log.exception("worker %d failed to build its state", os.getpid())

        async def supervise_store() -> None:
            """Reopen a failed store and rebuild from it (see the module docstring)."""
            loop = asyncio.get_running_loop()
            while True:
                await asyncio.sleep(cfg.store_retry_s)
                st = holder.state
                if st is None or st.desk.engine.failed is None:
                    continue
                if cfg.db is None:  # a temporary store: reopening would make a new, empty one
                    continue
                quotes = {s: (q.bid, q.ask) for s, q in st.feed.handler.state.items()}
                try:
                    took = await loop.run_in_executor(holder.engine_thread, reopen_store, st, holder, quotes)
                except Exception as exc:
                    log.warning("worker %d: order store still unavailable: %s: %s", os.getpid(),
                                type(exc).__name__, exc)
                    continue
                log.warning("worker %d: order store back; desk rebuilt from it in %.2f s", os.getpid(), took)

        task = asyncio.create_task(build())
        supervisor = asyncio.create_task(supervise_store())
        try:
            yield
        finally:
            for t in (task, supervisor):
                t.cancel()
            await asyncio.gather(task, supervisor, return_exceptions=True)
            await close_holder(holder)

    app = FastAPI(title="Reference trading agent", version="1.0", lifespan=lifespan,
                  description="Market data, portfolio, risk, model recommendations and order entry of the "
                              "reference trading system (synthetic, seeded). Each worker process keeps its "
                              "own in-memory state.")

    @app.exception_handler(UnknownSymbolError)
    @app.exception_handler(UnknownAccountError)
    async def _not_found(request: Request, exc: KeyError) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": exc.args[0]})

    app.add_middleware(BodyLimit, max_body_bytes=cfg.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the whole bad input (a 10 MB string, a NaN or a lone
        # surrogate that cannot be encoded: a 500); this one echoes a short, encodable excerpt
        return JSONResponse(status_code=422, content={"detail": validation_detail(exc.errors())})

    retry_after = {"Retry-After": str(max(1, math.ceil(cfg.store_retry_s)))}

    @app.exception_handler(StoreFailedError)
    async def _store_failed(request: Request, exc: StoreFailedError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)}, headers=retry_after)

    async def on_engine_bounded(st: ServiceState, fn: Callable[..., Any], *args: Any) -> Any:
        """``st.on_engine`` bounded by ``order_timeout_s``: past it, abort the store call that
        holds the engine thread and answer 503 (the call itself may still complete)."""
        try:
            return await asyncio.wait_for(st.on_engine(fn, *args), cfg.order_timeout_s)
        except TimeoutError:
            st.store.abort()
            raise StoreTimeoutError(f"the engine and its order store did not answer within {cfg.order_timeout_s:g} s; "
                                    "not acknowledged; retry later") from None

    @app.exception_handler(StaleDataError)
    async def _stale(request: Request, exc: StaleDataError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)}, headers={"Retry-After": "1"})

    @app.exception_handler(BadTickError)
    async def _bad_tick(request: Request, exc: BadTickError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    @app.exception_handler(StoreTimeoutError)
    async def _store_timeout(request: Request, exc: StoreTimeoutError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)}, headers=retry_after)

    @app.exception_handler(NotReadyError)
    async def _not_ready(request: Request, exc: NotReadyError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)}, headers={"Retry-After": "1"})

    @app.get("/health", response_model=Health, tags=["probes"], summary="Liveness: 200 while the process runs")
    async def health(request: Request) -> Health:
        return Health(pid=os.getpid(), uptime_s=time.monotonic() - request.app.state.holder.started_s)

    @app.get("/ready", response_model=Readiness, tags=["probes"], responses={503: {"model": Readiness}},
             summary="Readiness: 200 once market data, models and the engine are loaded, else 503")
    async def ready(request: Request) -> Any:
        holder: StateHolder = request.app.state.holder
        if holder.state is None:
            body = Readiness(status=holder.status, pid=os.getpid(), detail=holder.error)
            return JSONResponse(status_code=503, content=body.model_dump())
        st = holder.state
        failed = st.desk.engine.failed  # read across threads: a str reference, set once
        if failed is not None:
            body = Readiness(status="failed", pid=os.getpid(), detail=f"order store failed: {failed}; " + (
                                 f"reopening it every {cfg.store_retry_s:g} s" if cfg.db is not None else
                                 "a temporary store cannot be reopened: restart (with --db to keep orders)"),
                             build_s=st.build_s, store=st.store.description)
            return JSONResponse(status_code=503, content=body.model_dump(), headers=retry_after)
        return Readiness(status="ready", pid=os.getpid(), build_s=st.build_s, store=st.store.description)

    @app.get("/universe", response_model=Universe, tags=["probes"], responses=_NOT_READY,
             summary="The symbols and accounts this service knows")
    async def universe(request: Request) -> Universe:
        st = _state(request)
        accounts = sorted(st.desk.account_names, key=lambda a: (not a.startswith("acct-"), len(a), a))
        return Universe(symbols=list(st.feed.symbols), accounts=accounts)

    @app.get("/market-data/{symbol}", response_model=MarketData, tags=["market data"],
             responses={**_NOT_FOUND, **_NOT_READY},
             summary="Top of book, last, VWAP, session range and recent one-second bars")
    async def market_data(request: Request, symbol: Symbol,
                          bars: Annotated[int, Query(ge=0, le=MAX_BARS_OUT)] = 10) -> MarketData:
        feed = _state(request).feed
        if cfg.feed == "synthetic":
            feed.advance(symbol)  # the stream moves a little with every call (--advance-ticks)
        return feed.quote(symbol, bars, cfg.max_quote_age_s)

    @app.post("/feed/ticks", response_model=FeedAck, tags=["market data"],
              responses={409: {"model": ErrorOut, "description": "this service runs the synthetic feed"},
                         422: {"model": ErrorOut | ValidationErrorOut,
                               "description": "a malformed batch, or a tick the feed refuses (unknown "
                                              "symbol, crossed quote): nothing of the batch is applied"},
                         **_NOT_READY},
              summary="Ticks from an upstream market-data feed (--feed push): per-symbol seq, gaps counted")
    async def feed_ticks(request: Request, body: TicksIn) -> Any:
        if cfg.feed != "push":
            return JSONResponse(status_code=409, content={"detail": "this service runs the synthetic feed; "
                                                                    "start it with --feed push to take ticks"})
        r = _state(request).feed.push(body.ticks)
        return FeedAck(accepted=r.accepted, duplicates=r.duplicates, gaps=r.gaps, missing=r.missing)

    @app.get("/portfolio/{account}", response_model=PortfolioOut, tags=["portfolio"],
             responses={**_NOT_FOUND, **_NOT_READY}, summary="Positions, cash and realised + unrealised P&L")
    async def portfolio(request: Request, account: Account) -> PortfolioOut:
        st = _state(request)
        failed = st.desk.engine.failed
        if failed is not None:  # memory may be ahead of the store: show nothing unacknowledged
            raise StoreFailedError(f"the order store failed ({failed}); reopening it")
        return await on_engine_bounded(st, st.desk.portfolio, account, st.feed.marks())

    async def _risk(st: ServiceState, req: RiskRequest) -> RiskOut:
        failed = st.desk.engine.failed
        if failed is not None:  # positions may be ahead of the store: price nothing unacknowledged
            raise StoreFailedError(f"the order store failed ({failed}); reopening it")
        exposure = await on_engine_bounded(st, st.desk.exposure, req.account, st.feed.marks())
        stale = st.feed.stale(exposure.symbols, cfg.max_quote_age_s)
        if stale:
            raise StaleDataError(f"market data is stale for {', '.join(stale[:5])}{' ...' if len(stale) > 5 else ''} "
                                 f"(last tick {st.feed.age_s(stale[0]):.1f} s ago, over {cfg.max_quote_age_s:g} s): "
                                 "risk is not priced on stale marks; retry when the feed is back")
        return await run_in_threadpool(assess, st.risk, exposure, method=req.method, confidence=req.confidence,
                                       scenarios=req.scenarios, seed=req.seed, now_s=time.time())

    @app.get("/risk/{account}", response_model=RiskOut, tags=["risk"], responses={**_NOT_FOUND, **_NOT_READY},
             summary="One-day VaR (historical, parametric, Monte Carlo) and the limit check")
    async def risk(request: Request, account: Account,
                   method: VarMethod = "both",
                   scenarios: Annotated[int, Query(ge=100, le=MAX_SCENARIOS)] = 10_000,
                   confidence: Annotated[float, Query(gt=0.5, lt=1.0)] = 0.99,
                   seed: Annotated[int, Query(ge=0)] = 0) -> RiskOut:
        req = RiskRequest(account=account, method=method, scenarios=scenarios, confidence=confidence, seed=seed)
        return await _risk(_state(request), req)

    @app.post("/risk/metrics", response_model=RiskOut, tags=["risk"], responses={**_NOT_FOUND, **_NOT_READY},
              summary="The same risk metrics, asked for with a JSON body")
    async def risk_metrics(request: Request, body: RiskRequest) -> RiskOut:
        return await _risk(_state(request), body)

    @app.get("/recommendations/{symbol}", response_model=RecommendationOut, tags=["models"],
             responses={**_NOT_FOUND, **_NOT_READY},
             summary="CNN+LSTM next-return prediction and the PPO agent's action for the symbol")
    async def recommendations(request: Request, symbol: Symbol) -> RecommendationOut:
        st = _state(request)
        return await run_in_threadpool(st.recommender.recommend, st.feed.live(symbol))

    @app.post("/orders", response_model=OrderOut, status_code=201, tags=["orders"],
              responses={404: {"model": ErrorOut, "description": "unknown account"},
                         413: {"model": ErrorOut, "description": "body over --max-body-bytes (not read)"},
                         422: {"model": OrderOut | ValidationErrorOut,
                               "description": "rejected by the engine (an OrderOut, status 'rejected', with its "
                                              "reason); a malformed body also answers 422, with the validation "
                                              "detail"},
                         503: {"model": ErrorOut, "description": "not ready, or the order store failed"}},
              summary="Submit an order: validation, pre-trade risk, matching, persistence")
    async def submit_order(request: Request, body: OrderRequest) -> Any:
        st = _state(request)
        mark = st.feed.mark(body.symbol) if st.feed.has(body.symbol) else None
        out = await on_engine_bounded(st, st.desk.submit, body, mark)
        if out.status == "rejected":
            return JSONResponse(status_code=422, content=out.model_dump())
        return out

    return app


def create_app_from_env() -> FastAPI:
    """Entry point for uvicorn workers (``factory=True``): the config the CLI left in the environment."""
    from trading_agent.service.__main__ import configure_logging

    cfg = config_from_env()
    configure_logging(cfg.log_level)
    return create_app(cfg)
