"""``config/stress.yaml`` as a pydantic model: unknown keys refused, every error naming the file
and the key path (``perf_tasks.config.format_validation_error``).

A scenario's section (``scenarios.<name>``) holds its ``description``, ``targets`` (metric ->
bounds, judged on ``stress.<scenario>.<metric>``), ``profiles`` (per-profile parameter overrides,
checked by the scenario against its own parameters: :func:`perf_tasks.stress.outcome.params`) and,
for the crash scenarios, ``shocks``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from perf_tasks.errors import ConfigError

SCHEMA_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StressTarget(_Strict):
    max: float | None = None
    min: float | None = None
    warning: float | None = Field(None, description="a stricter bound: beyond it a warning, beyond max/min critical")
    severity: Literal["warning", "critical"] | None = None


class ScenarioSection(_Strict):
    description: str = ""
    targets: dict[str, StressTarget] = Field(default_factory=dict)
    #: profile -> parameter -> value (the scenario checks the names and types of its own parameters)
    profiles: dict[str, dict[str, Any]] = Field(default_factory=dict)
    shocks: list[tuple[float, ...]] | None = Field(None, description="crash scenarios: (seconds, size) shocks")
    journey: str | None = Field(None, min_length=1,
                                description="the load journey (of the system's journeys file) the scenario drives")


class StressConfig(_Strict):
    schema_version: Literal[1]
    default_scenarios: list[str] = Field(default_factory=list)
    scenarios: dict[str, ScenarioSection] = Field(default_factory=dict)


def parse_stress_config(data: Any, source: str) -> StressConfig:
    """The model of a loaded stress.yaml; a ConfigError naming ``source`` and each bad key path."""
    from perf_tasks.config import format_validation_error

    try:
        return StressConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def section_dict(section: ScenarioSection) -> dict[str, Any]:
    """A scenario's section as the plain mapping its ``StressContext.config`` is (keys left out
    when not given, as in the file)."""
    return section.model_dump(exclude_none=True, exclude_defaults=True)


def load_path(path: Path) -> StressConfig:
    from perf_tasks.config import load_yaml_mapping

    return parse_stress_config(load_yaml_mapping(path, "stress config"), str(path))
