"""User journeys in YAML: steps, templated parameters, think times; validated once at load.

A journey is a ``sequence`` of steps (a user does them in order) or a weighted ``mix`` (each
request picks one step by weight). Paths and JSON bodies are templates: ``{symbol}`` is replaced by
a value drawn from the parameter ``symbol`` (a list of values, an integer range, or a uniform float
range, each with an optional ``format``). In a body, a string that is exactly ``"{name}"`` keeps
the parameter's type (``"{qty}"`` -> ``25``). Parameters are drawn once per journey iteration, so
one iteration of a sequence uses the same account for every step. ``request_index`` is built in:
the request's number in the run (unique across shards).

Open model: arrival k runs step ``k mod len(steps)`` of a sequence (think times are ignored: the
arrival rate paces requests). Closed model: each user runs the journey in a loop with think times.
"""
from __future__ import annotations

import json
import random
import re
import string
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from yarl import URL

from perf_tasks.config import format_validation_error, load_yaml_mapping
from perf_tasks.errors import ConfigError

BUILTIN_PARAMS = ("request_index",)
_RENDER_CACHE = 10_000
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParamSpec(_Strict):
    """Exactly one of ``values``, ``range`` (integers, inclusive) or ``uniform`` (floats)."""

    values: list[str | int | float] | None = None
    range: tuple[int, int] | None = None
    uniform: tuple[float, float] | None = None
    decimals: int | None = Field(default=None, ge=0, le=12)  # round uniform draws
    format: str | None = None  # e.g. "SYM{:03d}", "acct-{}"

    @model_validator(mode="after")
    def _one_source(self) -> ParamSpec:
        given = [k for k in ("values", "range", "uniform") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of 'values', 'range' or 'uniform' (got {given or 'none'})")
        if self.values is not None and not self.values:
            raise ValueError("'values' is empty")
        for key in ("range", "uniform"):
            bounds = getattr(self, key)
            if bounds is not None and bounds[0] > bounds[1]:
                raise ValueError(f"{key} [{bounds[0]}, {bounds[1]}]: low bound above high bound")
        if self.format is not None:
            # every listed value (a format that fits the first may not fit the others), else the low bound
            samples = self.values if self.values else [(self.range or self.uniform or (0,))[0]]
            for sample in samples:
                try:
                    self.format.format(sample)
                except (ValueError, IndexError, KeyError, TypeError, AttributeError) as exc:
                    raise ValueError(f"format {self.format!r} does not apply to {sample!r}: {exc}") from None
        return self

    def draw(self, rng: random.Random) -> Any:
        if self.values is not None:
            v: Any = self.values[rng.randrange(len(self.values))]
        elif self.range is not None:
            v = rng.randint(self.range[0], self.range[1])
        else:
            lo, hi = self.uniform  # type: ignore[misc]
            v = rng.uniform(lo, hi)
            if self.decimals is not None:
                v = round(v, self.decimals)
        return self.format.format(v) if self.format is not None else v


class ThinkTime(_Strict):
    min_s: float = Field(ge=0)
    max_s: float = Field(ge=0)

    @model_validator(mode="after")
    def _order(self) -> ThinkTime:
        if self.min_s > self.max_s:
            raise ValueError(f"min_s ({self.min_s}) > max_s ({self.max_s})")
        return self


class StepSpec(_Strict):
    name: str
    method: Method = "GET"
    path: str
    body: Any = None  # JSON template (POST/PUT/PATCH)
    headers: dict[str, str] = Field(default_factory=dict)
    weight: float = Field(default=1.0, gt=0)  # mix journeys only
    think_time_s: float | ThinkTime = Field(default=0.0)  # after this step, closed model only

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"step name {v!r} must match {_NAME.pattern}")
        return v

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError(f"path {v!r} must start with '/' (it is appended to the target URL)")
        return v

    @field_validator("body")
    @classmethod
    def _json_body(cls, v: Any) -> Any:
        try:
            json.dumps(v)
        except (TypeError, ValueError) as exc:  # a YAML date, binary or set; a cycle made with anchors
            raise ValueError(f"body must be JSON data (strings, numbers, booleans, null, lists, mappings): "
                             f"{exc}") from None
        return v

    @field_validator("think_time_s")
    @classmethod
    def _think(cls, v: float | ThinkTime) -> float | ThinkTime:
        if isinstance(v, (int, float)) and v < 0:
            raise ValueError(f"think time must be >= 0 s, got {v}")
        return v


class JourneySpec(_Strict):
    description: str = ""
    mode: Literal["sequence", "mix"] = "sequence"
    params: dict[str, ParamSpec] = Field(default_factory=dict)  # overrides the file's shared params
    steps: list[StepSpec] = Field(min_length=1)

    @field_validator("steps")
    @classmethod
    def _unique(cls, v: list[StepSpec]) -> list[StepSpec]:
        names = [s.name for s in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"step names must be unique within a journey; repeated: {dupes}")
        return v


class JourneysFile(_Strict):
    schema_version: Literal[1]
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    journeys: dict[str, JourneySpec] = Field(min_length=1)


def _fields(template: str) -> list[str]:
    names = []
    for _lit, field, spec, conv in string.Formatter().parse(template):
        if field is None:
            continue
        if not re.match(r"^[a-z_][a-z0-9_]*$", field) or spec or conv:
            raise ValueError(f"template field {{{field}}} in {template!r}: use a plain parameter name like {{symbol}}")
        names.append(field)
    return names


def _body_fields(body: Any) -> list[str]:
    if isinstance(body, str):
        return _fields(body)
    if isinstance(body, dict):
        return [f for v in body.values() for f in _body_fields(v)]
    if isinstance(body, list):
        return [f for v in body for f in _body_fields(v)]
    return []


def resolve_journey(file: JourneysFile, name: str, *, source: str) -> JourneySpec:
    """The journey ``name`` with the file's shared params merged in, templates checked."""
    if name not in file.journeys:
        raise ConfigError(f"{source}: journey {name!r} is not defined; known: {sorted(file.journeys)}")
    j = file.journeys[name]
    params = {**file.params, **j.params}
    known = set(params) | set(BUILTIN_PARAMS)
    for i, step in enumerate(j.steps):
        for key, fields in (("path", _safe_fields(step.path, source, name, i, "path")),
                            ("body", _safe_body(step.body, source, name, i))):
            unknown = [f for f in fields if f not in known]
            if unknown:
                raise ConfigError(f"{source}: journeys.{name}.steps[{i}].{key}: unknown parameter(s) {unknown}; "
                                  f"defined: {sorted(known)}")
    return j.model_copy(update={"params": params})


def _safe_fields(template: str, source: str, journey: str, i: int, key: str) -> list[str]:
    try:
        return _fields(template)
    except ValueError as exc:
        raise ConfigError(f"{source}: journeys.{journey}.steps[{i}].{key}: {exc}") from None


def _safe_body(body: Any, source: str, journey: str, i: int) -> list[str]:
    try:
        return _body_fields(body)
    except ValueError as exc:
        raise ConfigError(f"{source}: journeys.{journey}.steps[{i}].body: {exc}") from None


def load_journeys(path: str | Path) -> JourneysFile:
    p = Path(path)
    data = load_yaml_mapping(p, "journeys file")
    try:
        file = JourneysFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(p))) from None
    for name in file.journeys:
        if not _NAME.match(name):
            raise ConfigError(f"{p}: journeys.{name}: journey name must match {_NAME.pattern}")
        resolve_journey(file, name, source=str(p))  # every template checked at load
    return file


# --- compiled form, used on the hot path -------------------------------------------------------

def _render_body(template: Any, params: dict[str, Any]) -> Any:
    if isinstance(template, str):
        m = re.fullmatch(r"\{([a-z_][a-z0-9_]*)\}", template)
        if m:
            return params[m.group(1)]  # keeps the parameter's type
        return template.format_map(params)
    if isinstance(template, dict):
        return {k: _render_body(v, params) for k, v in template.items()}
    if isinstance(template, list):
        return [_render_body(v, params) for v in template]
    return template


@dataclass(frozen=True)
class Request:
    step: int  # index of the step in the journey
    method: str
    path: str  # rendered, URL-quoted
    body: bytes | None
    headers: dict[str, str] | None
    url: URL | None = None  # base URL + path, when the journey was compiled for a target


class CompiledJourney:
    """Renders requests from a resolved :class:`JourneySpec`; cheap per call."""

    def __init__(self, spec: JourneySpec, base_url: str | None = None) -> None:
        self.spec = spec
        self.base_url = base_url
        self.steps = spec.steps
        self.names = tuple(s.name for s in spec.steps)
        self.mode = spec.mode
        self._params = list(spec.params.items())
        total, cum = 0.0, []
        for s in spec.steps:
            total += s.weight
            cum.append(total)
        self._cum_weights = cum
        self._total_weight = total
        self._headers = [({"Content-Type": "application/json", **s.headers} if s.body is not None
                          else (dict(s.headers) or None)) for s in spec.steps]
        # rendered requests are cached by the values of the fields a step uses (a 50-symbol
        # journey renders 50 distinct paths); steps that use request_index are never cached
        self._fields = [tuple(dict.fromkeys(_fields(s.path) + _body_fields(s.body))) for s in spec.steps]
        self._cacheable = ["request_index" not in f for f in self._fields]
        self.uses_request_index = not all(self._cacheable)
        self._cache: dict[tuple, Request] = {}
        self._think = [(t.min_s, t.max_s) if isinstance(t, ThinkTime) else (float(t), float(t))
                       for t in (s.think_time_s for s in spec.steps)]
        self.has_think_time = [hi > 0 for _lo, hi in self._think]

    def draw_params(self, rng: random.Random) -> dict[str, Any]:
        return {name: p.draw(rng) for name, p in self._params}

    def pick_step(self, rng: random.Random) -> int:
        """A step index by weight (mix journeys)."""
        return min(bisect_right(self._cum_weights, rng.random() * self._total_weight), len(self.steps) - 1)

    def render(self, step: int, params: dict[str, Any]) -> Request:
        if not self._cacheable[step]:
            return self._render(step, params)
        key = (step, *[params[f] for f in self._fields[step]])
        req = self._cache.get(key)
        if req is None:
            if len(self._cache) >= _RENDER_CACHE:
                self._cache.clear()
            req = self._cache[key] = self._render(step, params)
        return req

    def _render(self, step: int, params: dict[str, Any]) -> Request:
        s = self.steps[step]
        quoted = {k: quote(str(v), safe="") for k, v in params.items()}
        path = s.path.format_map(quoted)
        body = None
        if s.body is not None:
            body = json.dumps(_render_body(s.body, params), separators=(",", ":")).encode()
        url = URL(self.base_url + path, encoded=True) if self.base_url is not None else None
        return Request(step, s.method, path, body, self._headers[step], url)

    def think_time_s(self, step: int, rng: random.Random) -> float:
        lo, hi = self._think[step]
        return lo if lo == hi else rng.uniform(lo, hi)


class OpenModelRequests:
    """Request for global arrival index k of an open-model run (k increases within one shard).

    Sequence journeys run step ``k mod n`` with parameters drawn once per cycle of n arrivals;
    mix journeys draw a step per arrival. ``rng`` is the shard's own seeded generator.
    """

    def __init__(self, journey: CompiledJourney, rng: random.Random) -> None:
        self.journey = journey
        self.rng = rng
        self._n = len(journey.steps)
        self._cycle = -1
        self._params: dict[str, Any] = {}

    def __call__(self, k: int) -> Request:
        j = self.journey
        if j.mode == "sequence":
            step, cycle = k % self._n, k // self._n
            if cycle != self._cycle:
                self._cycle, self._params = cycle, j.draw_params(self.rng)
        else:
            step, self._params = j.pick_step(self.rng), j.draw_params(self.rng)
        self._params["request_index"] = k
        return j.render(step, self._params)
