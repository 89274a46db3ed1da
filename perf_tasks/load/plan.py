"""A load plan: everything one engine process needs, frozen and picklable; and its shard split.

A plan is bounded twice: by ``duration_s`` (nothing is sent after the send deadline, in-flight
requests get ``timeout_s``) and by ``max_requests`` (for the whole, unsharded run).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from perf_tasks.load.journey import JourneySpec
from perf_tasks.load.live import LiveSettings
from perf_tasks.load.safety import DEFAULT_ALLOWLIST
from perf_tasks.load.schedule import RateProfile, Stage, arrival_offsets, ramped_rate, shard_offsets

DEFAULT_MAX_REQUESTS = 10_000_000
MAX_CONNECTIONS = 1000


@dataclass(frozen=True)
class LoadPlan:
    scenario: str
    target_url: str
    journey_name: str
    journey: JourneySpec  # resolved: shared params merged in
    duration_s: float
    users: int  # open model: max requests in flight; closed model: virtual users
    model: Literal["open", "closed"] = "open"
    rate_per_s: float = 0.0  # open model: the rate held after the ramp
    ramp: tuple[Stage, ...] = ()  # open model: stages before the hold, starting from 0 req/s
    arrival: Literal["constant", "poisson"] = "poisson"
    max_requests: int = DEFAULT_MAX_REQUESTS
    timeout_s: float = 30.0
    seed: int = 0
    shard_index: int = 0
    shard_count: int = 1
    allow: tuple[str, ...] = DEFAULT_ALLOWLIST
    connections: int | None = None  # TCP connections in the pool (default: min(users, 1000))
    late_threshold_ms: float = 10.0
    send_grace_s: float = 1.0  # an arrival not sent by duration_s + this is dropped
    ramp_up_s: float = 0.0  # closed model: users start evenly over this time
    bucket_s: float | None = None  # time-series bucket (default 1 s; wider for long runs)
    sample_interval_s: float = 1.0
    target_pid: int | None = None
    use_uvloop: bool = True
    # wall-clock (Unix) time at which this shard's schedule starts: shards of one run share it, so
    # their arrivals interleave as one process's would (None: start at once)
    start_at_unix: float | None = None
    live: LiveSettings | None = None  # write a live file for mid-run alerts (perf_tasks.load.live)

    def __post_init__(self) -> None:
        def bad(field: str, expected: str) -> ValueError:
            return ValueError(f"load plan {self.scenario!r}: {field} must be {expected}, got {getattr(self, field)!r}")

        if self.model not in ("open", "closed"):
            raise bad("model", "'open' or 'closed'")
        if self.arrival not in ("constant", "poisson"):
            raise bad("arrival", "'constant' or 'poisson'")
        for f in ("duration_s", "timeout_s"):
            v = getattr(self, f)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise bad(f, "a positive number of seconds")
        if not (isinstance(self.users, int) and self.users >= 1):
            raise bad("users", "an integer >= 1")
        if not (isinstance(self.max_requests, int) and self.max_requests >= 1):
            raise bad("max_requests", "an integer >= 1")
        if self.model == "open" and not (math.isfinite(self.rate_per_s) and self.rate_per_s > 0):
            raise bad("rate_per_s", "> 0 requests/s for the open model")
        if not (isinstance(self.shard_count, int) and self.shard_count >= 1 and 0 <= self.shard_index < self.shard_count):
            raise bad("shard_index", f"in [0, shard_count={self.shard_count})")
        if self.connections is not None and not (isinstance(self.connections, int) and self.connections >= 1):
            raise bad("connections", "an integer >= 1")
        if self.bucket_s is not None and not (isinstance(self.bucket_s, (int, float)) and math.isfinite(self.bucket_s)
                                              and self.bucket_s > 0):
            raise bad("bucket_s", "a positive number of seconds")
        for f in ("late_threshold_ms", "send_grace_s", "ramp_up_s", "sample_interval_s"):
            if not getattr(self, f) >= 0:
                raise bad(f, ">= 0")
        if self.model == "open":
            self.rate_profile()  # ramp longer than the run: an error now, not mid-run

    def rate_profile(self) -> RateProfile:
        try:
            return ramped_rate(self.rate_per_s, self.duration_s, self.ramp)
        except ValueError as exc:
            raise ValueError(f"load plan {self.scenario!r}: {exc}") from None

    def schedule(self) -> np.ndarray:
        """This shard's arrival offsets (seconds): its slice of the whole run's schedule."""
        rng = np.random.default_rng(self.seed)
        full = arrival_offsets(self.rate_profile(), self.arrival, rng=rng, max_count=self.max_requests)
        return shard_offsets(full, self.shard_index, self.shard_count)

    def shard_max_requests(self) -> int:
        """This shard's share of the run's request budget (closed model)."""
        return _share(self.max_requests, self.shard_count, self.shard_index)

    def pool_size(self) -> int:
        return int(self.connections or min(self.users, MAX_CONNECTIONS))


def _share(total: int, k: int, i: int) -> int:
    return total // k + (1 if i < total % k else 0)


def split_plan(plan: LoadPlan, k: int) -> tuple[LoadPlan, ...]:
    """K shard plans: users divided (remainders to the first shards); each open-model shard sends
    every K-th arrival of the same schedule, so together they send exactly what one process would.
    Only shard 0 samples the target process."""
    if not (isinstance(k, int) and k >= 1):
        raise ValueError(f"shard count must be an integer >= 1, got {k!r}")
    if plan.shard_count != 1:
        raise ValueError(f"plan {plan.scenario!r} is already shard {plan.shard_index} of {plan.shard_count}")
    if plan.users < k:
        raise ValueError(f"cannot split {plan.users} users into {k} shards (each shard needs at least one user)")
    conns = plan.connections
    return tuple(replace(plan, shard_index=i, shard_count=k, users=_share(plan.users, k, i),
                         connections=None if conns is None else max(1, _share(conns, k, i)),
                         target_pid=plan.target_pid if i == 0 else None)
                 for i in range(k))
