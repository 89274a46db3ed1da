"""``config/scalability.yaml``, typed and checked (unknown keys and bad values are ConfigErrors
naming the file and the key path)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from perf_tasks.config import format_validation_error, load_yaml_mapping
from perf_tasks.errors import ConfigError

AXES = ("instances", "cores")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KneeSpec(_Strict):
    p99_ms: float = Field(gt=0)
    error_rate_pct: float = Field(1.0, gt=0)


class TargetSpec(_Strict):
    max: float | None = None
    min: float | None = None
    warning: float | None = None
    severity: Literal["warning", "critical"] = "critical"


class LinearClaim(_Strict):
    n: float = Field(10.0, ge=1)
    min_efficiency: float = Field(0.9, gt=0, le=1)


class BalancerSpec(_Strict):
    kind: Literal["auto", "haproxy", "multiworker"] = "auto"
    check_inter_ms: int = Field(500, ge=50, le=60000)


class ProfileSpec(_Strict):
    axes: list[Literal["instances", "cores"]] = Field(min_length=1)
    instances: list[int] = Field(min_length=1)
    cores: list[int] = Field(min_length=1)
    base_rate_per_s: float = Field(gt=0)
    multipliers: list[float] = Field(min_length=1)
    point_duration_s: float = Field(gt=0, le=3600)
    max_refine: int = Field(3, ge=0, le=10)

    @field_validator("instances", "cores")
    @classmethod
    def _sizes(cls, v: list[int]) -> list[int]:
        if any(n < 1 for n in v) or len(set(v)) != len(v):
            raise ValueError(f"sizes must be distinct integers >= 1, got {v}")
        return sorted(v)

    @field_validator("multipliers")
    @classmethod
    def _mult(cls, v: list[float]) -> list[float]:
        if any(m <= 0 for m in v):
            raise ValueError(f"multipliers must be > 0, got {v}")
        return sorted(v)


class ScaleConfig(_Strict):
    schema_version: Literal[1]
    sut: Literal["service", "testserver", "urls"] = "service"
    journey: str = "mixed_traffic"
    arrival: Literal["poisson", "constant"] = "poisson"
    knee: KneeSpec
    cost_per_core_hour: float = Field(ge=0)
    cores_per_instance: float = Field(1.0, gt=0)
    predict: list[int] = Field(default_factory=lambda: [10, 20, 50])
    linear_claim: LinearClaim = LinearClaim()
    balancer: BalancerSpec = BalancerSpec()
    users: int = Field(256, ge=1, le=1000)
    generator_shards: int = Field(1, ge=1, le=64)
    timeout_s: float = Field(5.0, gt=0)
    targets: dict[str, TargetSpec] = Field(default_factory=dict)
    profiles: dict[str, ProfileSpec]


def load_scale_config(path: str | Path) -> ScaleConfig:
    p = Path(path)
    data = load_yaml_mapping(p, "scalability config")
    try:
        return ScaleConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(p))) from None
