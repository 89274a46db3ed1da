"""Load scenarios in YAML (``config/load_scenarios.yaml``): typed, validated once, scaled by profile.

Targets (p95, error rate) never scale; only durations do: ``smoke`` runs about 10 s,
``standard`` a few minutes, ``full`` the duration as written. A scenario can override the scaled
duration per profile (``profile_duration_s``).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from perf_tasks.config import PROFILE_NAMES, format_validation_error, load_yaml_mapping
from perf_tasks.errors import ConfigError
from perf_tasks.load.journey import JourneySpec, JourneysFile, resolve_journey
from perf_tasks.load.plan import DEFAULT_MAX_REQUESTS, LoadPlan
from perf_tasks.load.safety import DEFAULT_ALLOWLIST
from perf_tasks.load.schedule import Stage

PROFILE_DURATION_S: dict[str, float] = {"smoke": 10.0, "standard": 180.0}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # .inf is no duration or rate


class RampStage(_Strict):
    duration_s: float = Field(gt=0)
    requests_per_minute: float = Field(ge=0)


class LoadScenario(_Strict):
    name: str = ""  # filled from the key in the scenarios file
    description: str = ""
    users: int = Field(ge=1)  # open model: max requests in flight; closed model: virtual users
    requests_per_minute: float = Field(gt=0)
    duration_s: float = Field(gt=0)
    p95_target_ms: float = Field(gt=0)
    max_error_rate_pct: float = Field(ge=0, le=100)  # critical: the run fails above it
    warn_error_rate_pct: float | None = Field(default=None, ge=0, le=100)  # reported only
    journey: str = "user_workload"
    model: Literal["open", "closed"] = "open"
    arrival: Literal["constant", "poisson"] = "poisson"
    ramp: list[RampStage] = Field(default_factory=list)  # before holding requests_per_minute
    timeout_s: float = Field(default=30.0, gt=0)
    max_requests: int | None = Field(default=None, ge=1)  # default: twice the expected count
    profile_duration_s: dict[Literal["smoke", "standard"], float] = Field(default_factory=dict)
    # per-profile rate and users (e.g. smoke: a functional check at a rate one small box sustains,
    # not the spec's load); targets never change
    profile_requests_per_minute: dict[Literal["smoke", "standard"], float] = Field(default_factory=dict)
    profile_users: dict[Literal["smoke", "standard"], int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ramp_fits(self) -> LoadScenario:
        ramp_s = sum(s.duration_s for s in self.ramp)
        if ramp_s > self.duration_s:
            raise ValueError(f"ramp stages last {ramp_s:g} s, longer than duration_s {self.duration_s:g}")
        if self.warn_error_rate_pct is not None and self.warn_error_rate_pct > self.max_error_rate_pct:
            raise ValueError(f"warn_error_rate_pct ({self.warn_error_rate_pct}) > max_error_rate_pct "
                             f"({self.max_error_rate_pct})")
        for field in ("profile_duration_s", "profile_requests_per_minute", "profile_users"):
            for p, v in getattr(self, field).items():
                if not v > 0:
                    raise ValueError(f"{field}.{p} must be > 0, got {v}")
        return self

    @property
    def rate_per_s(self) -> float:
        return self.requests_per_minute / 60.0


class ScenariosFile(_Strict):
    schema_version: Literal[1]
    scenarios: dict[str, LoadScenario] = Field(min_length=1)

    @field_validator("scenarios")
    @classmethod
    def _names(cls, v: dict[str, LoadScenario]) -> dict[str, LoadScenario]:
        for name in v:
            if not _NAME.match(name):
                raise ValueError(f"scenario name {name!r} must match {_NAME.pattern}")
        return {name: s.model_copy(update={"name": name}) for name, s in v.items()}


def load_scenarios(path: str | Path) -> dict[str, LoadScenario]:
    p = Path(path)
    data = load_yaml_mapping(p, "scenarios file")
    try:
        return ScenariosFile.model_validate(data).scenarios
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(p))) from None


def get_scenario(scenarios: dict[str, LoadScenario], name: str, *, source: str) -> LoadScenario:
    if name not in scenarios:
        raise ConfigError(f"{source}: scenario {name!r} is not defined; known: {sorted(scenarios)}")
    return scenarios[name]


def scale_for_profile(scenario: LoadScenario, profile: str) -> LoadScenario:
    """Shorten the run for ``smoke`` (about 10 s) and ``standard`` (about 3 min); ``full`` as written.

    Ramp stages shrink in proportion. Rates and users stay as written unless the scenario gives
    ``profile_requests_per_minute`` / ``profile_users`` for the profile (ramp rates scale with the
    rate); targets never change.
    """
    if profile not in PROFILE_NAMES:
        raise ConfigError(f"profile {profile!r} is not one of {list(PROFILE_NAMES)}")
    if profile == "full":
        return scenario
    wanted = scenario.profile_duration_s.get(profile, PROFILE_DURATION_S[profile])  # type: ignore[call-overload]
    duration = min(scenario.duration_s, wanted)
    factor = duration / scenario.duration_s
    rpm = scenario.profile_requests_per_minute.get(profile, scenario.requests_per_minute)  # type: ignore[call-overload]
    rate_factor = rpm / scenario.requests_per_minute
    ramp = [s.model_copy(update={"duration_s": s.duration_s * factor,
                                 "requests_per_minute": s.requests_per_minute * rate_factor}) for s in scenario.ramp]
    users = scenario.profile_users.get(profile, scenario.users)  # type: ignore[call-overload]
    return scenario.model_copy(update={"duration_s": duration, "ramp": ramp, "requests_per_minute": rpm,
                                       "users": users})


def plan_for_scenario(scenario: LoadScenario, target_url: str, journeys: JourneysFile, *,
                      journeys_source: str = "journeys", journey: str | None = None, seed: int = 0,
                      allow: tuple[str, ...] = DEFAULT_ALLOWLIST, target_pid: int | None = None,
                      **overrides: object) -> LoadPlan:
    """The engine plan for a (scaled) scenario; ``overrides`` replace plan fields (e.g. connections).

    Without ``max_requests`` in the scenario, the bound is twice the expected count (a correct run
    never reaches it) for the open model and DEFAULT_MAX_REQUESTS for the closed model.
    """
    name = journey or scenario.journey
    spec: JourneySpec = resolve_journey(journeys, name, source=journeys_source)
    try:  # a stage scaled down to nothing (a very long scenario's ramp, for smoke) is a ValueError
        ramp = tuple(Stage(s.duration_s, s.requests_per_minute / 60.0) for s in scenario.ramp)
    except ValueError as exc:
        raise ConfigError(f"scenario {scenario.name or 'adhoc'!r}: ramp: {exc}") from None
    fields: dict[str, object] = dict(
        scenario=scenario.name or "adhoc", target_url=target_url, journey_name=name, journey=spec,
        duration_s=scenario.duration_s, users=scenario.users, model=scenario.model,
        rate_per_s=scenario.rate_per_s, ramp=ramp, arrival=scenario.arrival, timeout_s=scenario.timeout_s,
        seed=seed, allow=tuple(allow), target_pid=target_pid)
    fields.update(overrides)
    if "max_requests" not in overrides:
        if scenario.max_requests is not None:
            fields["max_requests"] = scenario.max_requests
        elif fields["model"] == "closed":
            fields["max_requests"] = DEFAULT_MAX_REQUESTS
        else:
            expected = float(fields["rate_per_s"]) * float(fields["duration_s"])  # type: ignore[arg-type]
            fields["max_requests"] = int(min(DEFAULT_MAX_REQUESTS, max(1000, 2 * expected + 100)))
    try:
        return LoadPlan(**fields)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
