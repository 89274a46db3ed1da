"""The asyncio load engine: open model (arrivals at intended times) or closed model (users in a loop).

Open model, coordinated-omission free: every arrival has an intended send time from the schedule;
its latency is measured from that time (or from the actual send, if the timer fired early), so a
stall of the client or the server counts as waiting. ``users`` workers claim arrivals in order and
sleep until each one is due; when all are busy the next arrival goes out late (counted, with its
lateness), never silently skipped. An arrival that cannot be sent by ``duration_s +
send_grace_s`` is dropped (counted). Requests in flight get ``timeout_s``; the run then ends.

Closed model: ``users`` virtual users each run the journey in a loop with its think times; latency
is from the actual send (the closed model cannot see the arrivals it did not make).

The hot path per request: render (or reuse) a request, send it on a keep-alive connection of our
own HTTP/1.1 client (perf_tasks.load.client: asyncio protocols, httptools parsing; https targets
use aiohttp), discard the body, append three integers to the recorder. ``time.perf_counter_ns`` is the only clock.
"""
from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import time
from datetime import datetime, timezone

import aiohttp
import psutil

from perf_tasks.errors import UserError
from perf_tasks.load.client import HttpPool
from perf_tasks.load.journey import CompiledJourney, OpenModelRequests, Request
from perf_tasks.load.live import LiveSettings, write_live
from perf_tasks.load.plan import LoadPlan
from perf_tasks.load.recorder import Recorder, bucket_width_s
from perf_tasks.load.result import GeneratorHealth, LoadResult, error_rate_pct
from perf_tasks.load.safety import check_target
from perf_tasks.load.schedule import to_ns
from perf_tasks.monitor.sampler import ResourceSampler
from perf_tasks.results import GENERATOR_SATURATED, ResourceSummary

log = logging.getLogger(__name__)

_IDLE = 1 << 62  # a worker's in-flight slot when it holds no request
_CHUNK = 65536  # schedule offsets converted to Python ints this many at a time
_TICK_S = 0.25
# Timers fire late by a fraction of a ms (uvloop: mean 0.14 ms, 36 % early; default loop: mean
# 0.78 ms, never early; measured on a 2-core VM). Waking this much before the intended time makes
# the send on time on average; an early send is measured from when it actually went out.
_WAKE_EARLY_NS = {"uvloop": 250_000, "asyncio": 750_000}
# The generator was the limit when it fell behind (late sends, drops, or less than the intended rate)
# while one of these held: its process used most of a core, or its event loop stalled.
SATURATED_CPU_PCT = 85.0
SATURATED_LOOP_LAG_MS = 50.0
BEHIND_LATE_PCT = 1.0  # of sent requests
BEHIND_ACHIEVED_PCT = 98.0  # of the intended rate
HEALTHY_CPU_PCT = 70.0  # what one process should use at most: the basis of "shards needed"
MAX_START_WAIT_S = 600.0  # a common start further away than this is a planning bug


def sched_wait_ns() -> int | None:
    """Nanoseconds this process's threads have spent runnable but waiting for a CPU (Linux
    ``/proc/self/task/*/schedstat``, second field); None where not available."""
    total = 0
    try:
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/schedstat") as fh:
                total += int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return total


def generator_health(*, model: str, cpu_pct_mean: float | None, cpu_pct_max: float, lag_ms: list[float],
                     sent: int, late: int, dropped: int, intended: int,
                     cpu_wait_pct: float | None = None) -> GeneratorHealth:
    """Judge one engine process (see :class:`~perf_tasks.load.result.GeneratorHealth`).
    ``cpu_wait_pct``: share of the run the process waited, runnable, for a CPU (other work had
    the cores): running plus waiting is how much CPU it wanted."""
    lag = sorted(lag_ms) or [0.0]
    p50, p99 = lag[len(lag) // 2], lag[min(len(lag) - 1, int(0.99 * len(lag)))]
    late_pct = 100.0 * late / sent if sent else 0.0
    achieved_pct = 100.0 * sent / intended if model == "open" and intended else 100.0
    if cpu_pct_mean is None:
        return GeneratorHealth("unknown", "engine CPU was not sampled", 1, (), cpu_pct_max, p50, p99, lag[-1],
                               late_pct, dropped, achieved_pct)
    starved = []
    wait = cpu_wait_pct or 0.0
    if cpu_pct_mean >= SATURATED_CPU_PCT:
        starved.append(f"its process used {cpu_pct_mean:.0f} % of a core (limit {SATURATED_CPU_PCT:g} %)")
    elif cpu_pct_mean + wait >= SATURATED_CPU_PCT:
        starved.append(f"its process used {cpu_pct_mean:.0f} % of a core and waited {wait:.0f} % of the time for one "
                       f"(other work had the cores; limit {SATURATED_CPU_PCT:g} % together)")
    if p99 >= SATURATED_LOOP_LAG_MS:
        starved.append(f"its event loop lagged {p99:.0f} ms at p99 (limit {SATURATED_LOOP_LAG_MS:g} ms)")
    behind = []
    if late_pct > BEHIND_LATE_PCT:
        behind.append(f"{late_pct:.1f} % of sends were late")
    if dropped:
        behind.append(f"{dropped} arrivals were dropped")
    if achieved_pct < BEHIND_ACHIEVED_PCT:
        behind.append(f"it sent {achieved_pct:.1f} % of the intended rate")
    if model == "closed":  # users loop as fast as the generator lets them: a busy generator is the limit
        behind = behind or ["closed-model users wait for the generator"]
    saturated = bool(starved and behind)
    needed = 0
    reason = ""
    if saturated:
        needed = max(2, math.ceil(max(cpu_pct_mean / HEALTHY_CPU_PCT, 100.0 / max(achieved_pct, 1.0))))
        advice = (f"Run about {needed} shards (one core each)" if cpu_pct_mean >= SATURATED_CPU_PCT else
                  "Other work on this host delayed it: give the generator cores of its own (or run it on another "
                  "machine), then rerun")
        reason = (f"{GENERATOR_SATURATED}: {' and '.join(behind)} while {' and '.join(starved)}; the service did "
                  f"not see the load as intended. {advice}")
    return GeneratorHealth("saturated" if saturated else "ok", reason, 1, (round(cpu_pct_mean, 1),), cpu_pct_max,
                           p50, p99, lag[-1], late_pct, dropped, achieved_pct, needed, round(wait, 1))


class Engine:
    """One load run of one plan (one shard). Construct cheaply; ``await run()`` does the work."""

    def __init__(self, plan: LoadPlan) -> None:
        self.plan = plan
        self._hard_stop = False
        #: ``time.perf_counter_ns()`` (CLOCK_MONOTONIC on Linux) of the schedule's time zero, set by
        #: ``run``: lets a caller line the schedule up with other monotonic-clock records
        self.t0_ns: int | None = None

    # -- setup --------------------------------------------------------------------------------
    def _prepare(self) -> None:
        p = self.plan
        self.target = check_target(p.target_url, p.allow, source=f"scenario {p.scenario!r} target")
        self.journey = CompiledJourney(p.journey, base_url=self.target.base_url)
        self.bucket_s = bucket_width_s(p.duration_s, p.bucket_s)
        self.rec = Recorder(self.journey.names, bucket_s=self.bucket_s, late_threshold_ms=p.late_threshold_ms,
                            duration_s=p.duration_s)
        if p.model == "open":
            self._offsets = to_ns(p.schedule())
            self._n = len(self._offsets)
            self._requests = OpenModelRequests(self.journey, random.Random(f"{p.seed}:{p.shard_index}"))
        else:
            self._offsets, self._n = None, 0
            self._budget = p.shard_max_requests()
        self._next = 0
        self._chunk_at, self._chunk = 0, []
        self._sent = 0
        n_workers = p.users if p.model == "closed" else max(1, min(p.users, self._n))
        self._inflight = [_IDLE] * n_workers  # intended offset of each worker's current arrival
        self._claimed = [-1] * n_workers  # open model: index of each worker's current arrival
        self._sent_at = [_IDLE] * n_workers  # when each worker's request in flight went out
        self._expired = [False] * n_workers
        self._timeout_ns = int(p.timeout_s * 1e9)

    # -- one request --------------------------------------------------------------------------
    async def _exchange(self, w: int, req: Request, intended_ns: int, start_ns: int, now_ns: int) -> None:
        """Send one request as worker ``w``; latency runs from ``start_ns``. The timeout is the
        ticker's job (see ``_expire_slow``): no timer per request. (Kept out of the worker loops on
        purpose: a worker sleeping until its next arrival must not hold its last response; inlined,
        10,000 idle workers kept 30 MiB of responses alive and GC pauses made sends late.)"""
        rec, perf, sent_at = self.rec, time.perf_counter_ns, self._sent_at
        sent_at[w] = now_ns
        try:
            client = self._client
            if client is not None:  # http: our own client (perf_tasks.load.client)
                status, reason = await client.send(req)
            else:  # https: aiohttp
                resp = await self._session.request(req.method, req.url, data=req.body,
                                                   headers=req.headers, allow_redirects=False)
                try:
                    await resp.read()  # releases the connection at the end of the body
                except BaseException:
                    resp.release()
                    raise
                status, reason = resp.status, resp.reason
            end = perf()
            sent_at[w] = _IDLE
            if status < 400:
                rec.record(req.step, intended_ns, start_ns, end)
            else:
                rec.record_error(req.step, intended_ns, start_ns, end, "4xx" if status < 500 else "5xx", status,
                                 f"HTTP {status} {reason}: {req.method} {req.path}")
            return
        except asyncio.CancelledError:
            sent_at[w] = _IDLE
            if self._expired[w]:  # our timeout, not a shutdown: record it and carry on
                self._expired[w] = False
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
                rec.record_error(req.step, intended_ns, start_ns, perf(), "timeout", None,
                                 f"no answer within {self.plan.timeout_s:g} s: {req.method} {req.path}")
                return
            if self._hard_stop:
                rec.record_error(req.step, intended_ns, start_ns, perf(), "timeout", None,
                                 f"still in flight at the run's hard limit: {req.method} {req.path}")
            raise
        except asyncio.TimeoutError:  # aiohttp's own (e.g. a server timeout while connecting)
            error, message = "timeout", f"timed out: {req.method} {req.path}"
        except (aiohttp.ClientConnectionError, OSError) as exc:
            error, message = "connection", f"{type(exc).__name__}: {exc} ({req.method} {req.path})"
        except Exception as exc:  # recorded and counted as "other", never lost
            error, message = "other", f"{type(exc).__name__}: {exc} ({req.method} {req.path})"
        sent_at[w] = _IDLE
        rec.record_error(req.step, intended_ns, start_ns, perf(), error, None, message)

    def _expire_slow(self) -> None:
        """Cancel requests in flight longer than ``timeout_s`` (checked every tick, so a timeout
        fires between ``timeout_s`` and ``timeout_s`` + 0.25 s)."""
        limit = time.perf_counter_ns() - self._timeout_ns
        if min(self._sent_at) >= limit:
            return
        for w, t in enumerate(self._sent_at):
            if t < limit and not self._expired[w]:
                self._expired[w] = True
                self._tasks[w].cancel()

    # -- open model ---------------------------------------------------------------------------
    def _offset(self, i: int) -> int:
        if i >= self._chunk_at + len(self._chunk):
            self._chunk_at = i
            self._chunk = self._offsets[i:i + _CHUNK].tolist()
        return self._chunk[i - self._chunk_at]

    async def _open_worker(self, w: int) -> None:
        perf, rec, inflight, claimed = time.perf_counter_ns, self.rec, self._inflight, self._claimed
        t0, deadline, late_ns = self._t0, self._send_deadline, rec.late_threshold_ns
        shard, shards, make, sleep = self.plan.shard_index, self.plan.shard_count, self._requests, asyncio.sleep
        loop_kind = "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio"
        early = _WAKE_EARLY_NS[loop_kind]
        while True:
            i = self._next
            if i >= self._n:
                return
            self._next = i + 1
            off = self._offset(i)
            intended = t0 + off
            inflight[w] = off
            claimed[w] = i
            now = perf()
            if now < intended - early:
                await sleep((intended - early - now) * 1e-9)
                now = perf()
            if now > deadline:  # this arrival and every unclaimed one can no longer be sent
                self._drop((i,), now)
                inflight[w] = _IDLE
                return
            lag = now - intended
            if lag > late_ns:
                rec.late(lag)
            self._sent += 1
            await self._exchange(w, make(shard + i * shards), intended, intended if intended < now else now, now)
            inflight[w] = _IDLE

    def _step_of(self, i: int) -> int:
        """The journey step arrival ``i`` of this shard would have run (for a dropped arrival)."""
        j, k = self.journey, self.plan.shard_index + i * self.plan.shard_count
        return k % len(j.steps) if j.mode == "sequence" else j.pick_step(self._requests.rng)

    def _drop(self, claimed: tuple[int, ...], now: int) -> None:
        """Give up the claimed arrivals and every unclaimed one: each is an error (``dropped``) and
        an all-requests observation at the wait it had when it was given up."""
        t0, rec = self._t0, self.rec
        for k in (*claimed, *range(self._next, self._n)):
            rec.record_dropped(self._step_of(k), t0 + self._offset(k), now)
        self._next = self._n

    # -- closed model -------------------------------------------------------------------------
    async def _closed_user(self, w: int) -> None:
        p, perf, j, inflight = self.plan, time.perf_counter_ns, self.journey, self._inflight
        rng = random.Random(f"{p.seed}:{p.shard_index}:{w}")
        if p.ramp_up_s > 0:
            await asyncio.sleep(w * p.ramp_up_s / len(inflight))
        steps, sequence, render, exchange = range(len(j.steps)), j.mode == "sequence", j.render, self._exchange
        uses_index, thinks = j.uses_request_index, j.has_think_time
        t0, deadline = self._t0, self._send_deadline_closed
        while True:
            params = j.draw_params(rng)
            for s in (steps if sequence else (j.pick_step(rng),)):
                now = perf()
                if now >= deadline or self._budget <= 0:
                    return
                self._budget -= 1
                if uses_index:
                    params["request_index"] = p.shard_index + self._sent * p.shard_count
                self._sent += 1
                inflight[w] = now - t0
                await exchange(w, render(s, params), now, now, now)
                inflight[w] = _IDLE
                if thinks[s]:
                    think = j.think_time_s(s, rng)
                    left = (deadline - perf()) * 1e-9
                    if left <= 0:
                        return
                    await asyncio.sleep(min(think, left))

    # -- the run ------------------------------------------------------------------------------
    async def _ticker(self) -> None:
        """Flush the recorder and close time-series buckets that nothing in flight can reach."""
        perf, lags, tick_ns = time.perf_counter_ns, self._loop_lag_ms, int(_TICK_S * 1e9)
        live = self.plan.live
        next_live = perf() + int(live.every_s * 1e9) if live else 0
        while True:
            before = perf()
            await asyncio.sleep(_TICK_S)
            lags.append(max(0, perf() - before - tick_ns) / 1e6)
            self._expire_slow()
            if live is not None and before >= next_live:
                next_live = before + int(live.every_s * 1e9)
                self._live(live, before)
            self.rec.flush()
            watermark = min(self._inflight)
            if self.plan.model == "open" and self._next < self._n:
                watermark = min(watermark, self._offset(self._next))
            elif self.plan.model == "closed":
                watermark = min(watermark, time.perf_counter_ns() - self._t0)
            self.rec.close_buckets_before((watermark // 1000) // self.rec.bucket_us)

    def _live(self, live: LiveSettings, now_ns: int) -> None:
        """Write this shard's live window; stop sending when the monitor asked to abort."""
        self.rec.flush()
        first = int(((now_ns - self._t0) / 1e9 - live.window_s) // self.bucket_s)
        write_live(live, shard=self.plan.shard_index, start_unix=self._start_unix, bucket_s=self.bucket_s,
                   buckets=self.rec.window(max(first, 0)))
        if not self._aborted and os.path.exists(live.abort_path):
            self._aborted = (now_ns - self._t0) / 1e9
            log.warning("load %s shard %d: aborted by a live alert after %.0f s", self.plan.scenario,
                        self.plan.shard_index, self._aborted)
            self._n = self._next  # no further arrivals are claimed (open model)
            self._budget = 0  # closed model users stop

    def _cpu_wait_pct(self, elapsed_s: float) -> float | None:
        end = sched_wait_ns()
        if end is None or self._wait0 is None or elapsed_s <= 0:
            return None
        return 100.0 * (end - self._wait0) / (elapsed_s * 1e9)

    def _samplers(self) -> tuple[ResourceSampler, ResourceSampler | None]:
        p = self.plan
        interval = p.sample_interval_s or 1.0
        target = None
        if p.target_pid is not None:
            try:
                target = ResourceSampler(interval, pid=p.target_pid).start()
            except psutil.Error as exc:
                raise UserError(f"target pid {p.target_pid}: cannot sample it ({exc})") from None
        return ResourceSampler(interval).start(), target

    async def run(self) -> LoadResult:
        """Run the plan; raises UserError (before any request) for a refused or malformed target."""
        self._prepare()
        p = self.plan
        engine_sampler, target_sampler = self._samplers()
        self._client, self._session = None, None
        if self.target.scheme == "http":  # our own keep-alive client (httptools)
            self._client = HttpPool.for_url(self.target.base_url, p.pool_size())
        else:  # https: aiohttp
            connector = aiohttp.TCPConnector(limit=p.pool_size(), limit_per_host=0, keepalive_timeout=60,
                                             ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=None, connect=None, sock_read=None,
                                                                   sock_connect=None),
                cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False,
                headers={"User-Agent": "perf-tasks-load/1"})
        started_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        log.info("load %s shard %d/%d: %s model, %d users, %s for %.1f s -> %s", p.scenario, p.shard_index + 1,
                 p.shard_count, p.model, p.users, f"{self._n} arrivals" if p.model == "open" else "loop",
                 p.duration_s, self.target.base_url)
        # time zero leaves room to start the workers (about 10 us each) before the first arrival
        headroom_ns = 1_000_000 + 20_000 * len(self._inflight)
        self._loop_lag_ms: list[float] = []
        self._aborted: float = 0.0
        if p.start_at_unix is not None:  # shards of one run start together (a common wall-clock start)
            wait = p.start_at_unix - time.time() - headroom_ns / 1e9
            if wait > MAX_START_WAIT_S:
                raise UserError(f"scenario {p.scenario!r} shard {p.shard_index}: start_at_unix is {wait:.0f} s "
                                f"away (more than {MAX_START_WAIT_S:g} s): check the plan's clock")
            if wait > 0:
                await asyncio.sleep(wait)
            else:
                log.warning("load %s shard %d: started %.2f s after the common start time", p.scenario,
                            p.shard_index, -wait)
        self._t0 = self.rec.t0_ns = self.t0_ns = time.perf_counter_ns() + headroom_ns
        self._start_unix = time.time() + headroom_ns / 1e9
        self._wait0 = sched_wait_ns()
        self._send_deadline = self._t0 + int((p.duration_s + p.send_grace_s) * 1e9)
        self._send_deadline_closed = self._t0 + int(p.duration_s * 1e9)
        worker = self._open_worker if p.model == "open" else self._closed_user
        workers = self._tasks = [asyncio.ensure_future(worker(w)) for w in range(len(self._inflight))]
        ticker = asyncio.ensure_future(self._ticker())
        hard_limit = p.duration_s + p.send_grace_s + p.timeout_s + 5.0 + p.ramp_up_s
        try:
            done, pending = await asyncio.wait(workers, timeout=hard_limit)
            if pending:
                log.warning("load %s: %d workers still busy at the hard limit (%.0f s): cancelling", p.scenario,
                            len(pending), hard_limit)
                self._hard_stop = True
                if p.model == "open":  # arrivals claimed but not yet sent, and unclaimed ones, never go out
                    claimed = tuple(i for i, off, sent in zip(self._claimed, self._inflight, self._sent_at)
                                    if off != _IDLE and sent == _IDLE)
                    self._drop(claimed, time.perf_counter_ns())
                for t in pending:
                    t.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
            for t in done:
                if t.exception() is not None:
                    raise t.exception()  # a bug in the engine: never hide it
        finally:
            end_ns = time.perf_counter_ns()
            ticker_error = ticker.exception() if ticker.done() and not ticker.cancelled() else None
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
            if self._client is not None:
                await self._client.close()
            if self._session is not None:
                await self._session.close()
            engine_out = engine_sampler.stop()
            target_out = target_sampler.stop() if target_sampler else None
        if ticker_error is not None:
            raise ticker_error  # a bug in the engine: never hide it
        return self._result(started_at, (end_ns - self._t0) / 1e9, engine_out.summary,
                            target_out.summary if target_out else None)

    def _result(self, started_at: str, elapsed_s: float, engine_res: ResourceSummary,
                target_res: ResourceSummary | None) -> LoadResult:
        p, rec = self.plan, self.rec
        series = rec.series()  # flushes
        requests = int(rec.step_requests.sum())
        errors = int(rec.step_errors.sum())
        overall, overall_all = rec.overall(), rec.overall(successes_only=False)
        if p.start_at_unix is not None:
            started_at = datetime.fromtimestamp(self._start_unix, timezone.utc).isoformat(
                timespec="milliseconds").replace("+00:00", "Z")
        intended = self._n if p.model == "open" else requests
        generator = generator_health(
            model=p.model, cpu_pct_mean=engine_res.process_cpu_pct_mean if engine_res.samples else None,
            cpu_pct_max=engine_res.process_cpu_pct_max, lag_ms=self._loop_lag_ms, sent=self._sent,
            late=rec.late_sends, dropped=rec.dropped, intended=intended, cpu_wait_pct=self._cpu_wait_pct(elapsed_s))
        notes = []
        if self._aborted:
            notes.append(f"aborted by a live alert after {self._aborted:.0f} s: arrivals after that were not sent "
                         "(not counted as dropped); the result covers what ran")
        if generator.verdict == "saturated":
            notes.append(generator.reason)
        if p.model == "open":
            notes.append("open model: latency is measured from each request's intended send time "
                         "(coordinated-omission free); latency_* is of successful requests, latency_all of "
                         "every arrival (failures at their time, dropped arrivals at their wait)")
        else:
            notes.append("closed model: latency is measured from the actual send; a slow server slows the "
                         "users down, so this understates what an open arrival process would see")
        if rec.out_of_range:
            notes.append(f"{rec.out_of_range} latencies exceeded 60 s and were recorded as 60 s "
                         "(percentiles are conservative)")
        if rec.dropped:
            notes.append(f"{rec.dropped} scheduled requests could not be sent before the send deadline "
                         f"(duration + {p.send_grace_s:g} s): all {len(self._inflight)} users were busy")
        if rec.late_sends:
            notes.append(f"{rec.late_sends} requests went out more than {p.late_threshold_ms:g} ms late "
                         "(no free user, or the client was busy); their wait is in their latency")
        return LoadResult(
            scenario=p.scenario, model=p.model, source="perf_tasks.load", target=self.target.base_url,
            started_at=started_at, duration_s=p.duration_s, elapsed_s=elapsed_s, users=len(self._inflight)
            if p.model == "closed" else p.users, intended_requests=intended,
            intended_rate_per_s=intended / p.duration_s if p.model == "open" else 0.0,
            achieved_rate_per_s=self._sent / p.duration_s,
            throughput_per_s=(requests - errors) / elapsed_s if elapsed_s > 0 else 0.0,
            requests=requests, errors=errors, error_rate_pct=error_rate_pct(errors, rec.dropped, requests),
            errors_by_class=dict(rec.errors_by_class), errors_by_code=dict(rec.errors_by_code),
            error_samples=dict(rec.error_samples), late_sends=rec.late_sends,
            late_threshold_ms=p.late_threshold_ms, lateness=rec.lateness.summary(),
            lateness_histogram=rec.lateness.encode(), dropped=rec.dropped, out_of_range=rec.out_of_range,
            latency=overall.summary(), histogram=overall.encode(),
            endpoints=rec.endpoints([s.method for s in self.journey.steps]), timeseries=series,
            engine_resources=engine_res, target_resources=target_res, co_corrected=p.model == "open",
            shards=1, seed=p.seed, notes=tuple(notes),
            latency_all=overall_all.summary(), histogram_all=overall_all.encode(), generator=generator,
            start_unix=self._start_unix, end_unix=self._start_unix + elapsed_s,
        )
