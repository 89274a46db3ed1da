"""Configuration of the service: one validated, frozen :class:`ServiceConfig` per process.

The CLI builds it from its arguments; with ``--workers N`` uvicorn starts N fresh worker
processes that import the app by name, so the CLI hands the config over in the environment
variable :data:`CONFIG_ENV` (JSON) and each worker's app factory reads it back
(:func:`config_from_env`). That variable is the only channel between the CLI and the workers.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

CONFIG_ENV = "TRADING_SERVICE_CONFIG"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


class ServiceConfigError(ValueError):
    """A configuration the user can fix (bad option value, database in use)."""


class ServiceConfig(BaseModel):
    """Everything a worker needs to build its state. Sizes are counts; ``seed`` fixes every
    synthetic stream (ticks, start-of-day positions, return history, model weights)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64)
    db: str | None = Field(None, description="None: SQLite in a temporary directory removed at exit; "
                                             "'none': no persistence; a path, sqlite:///path or postgresql://...")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "warning"
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=64 * 1024 * 1024,
                                description="request bodies over this many bytes are refused with 413, unread")
    order_timeout_s: float = Field(5.0, gt=0, le=300, description="an order (or portfolio) call waits this long "
                                   "for the engine and its store, then answers 503 with Retry-After")
    store_retry_s: float = Field(0.5, gt=0, le=60, description="after the order store failed, try to reopen it "
                                 "and rebuild from it this often (also the Retry-After of a 503)")
    feed: Literal["synthetic", "push"] = Field("synthetic", description="synthetic: the seeded stream moves a "
                                               "little with every market-data call; push: ticks arrive from an "
                                               "upstream feed on POST /feed/ticks")
    max_quote_age_s: float | None = Field(None, gt=0, le=3600, description="a symbol whose last tick is older is "
                                          "stale: quotes say so and risk refuses to price it (503); None: never")
    n_symbols: int = Field(50, ge=1, le=1000)
    n_ticks: int = Field(50_000, ge=1_000, description="synthetic ticks replayed into market data at start")
    n_accounts: int = Field(100, ge=1, le=100_000)
    seed: int = Field(7, ge=0)
    advance_ticks: int = Field(1, ge=0, le=100, description="new ticks applied to a symbol per market-data call")
    history_days: int = Field(500, ge=100, description="days of return history behind historical VaR")
    cnn_lstm_path: str | None = Field(None, description="state_dict checkpoint of the CNN+LSTM; None: seeded weights")
    policy_path: str | None = Field(None, description="state_dict checkpoint of the PPO policy; None: seeded weights")

    @field_validator("db")
    @classmethod
    def _known_db(cls, v: str | None) -> str | None:
        if v is None or v == "none" or v.startswith(("postgresql://", "postgres://", "sqlite:///")):
            return v
        if "://" in v:
            raise ValueError(f"unsupported database URL {v!r}; expected sqlite:///path, a file path, "
                             "postgresql://... or 'none'")
        return v


def config_from_mapping(values: Mapping[str, object], source: str) -> ServiceConfig:
    """Validate ``values``; errors name ``source``, each bad key and its value."""
    try:
        return ServiceConfig(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']} (got {e.get('input')!r})"
                             for e in exc.errors())
        raise ServiceConfigError(f"invalid service config from {source}: {problems}") from None


def config_to_env(config: ServiceConfig) -> str:
    return config.model_dump_json()


def config_from_env(environ: Mapping[str, str] | None = None) -> ServiceConfig:
    """The config the CLI put in :data:`CONFIG_ENV`; defaults when it is not set."""
    env = os.environ if environ is None else environ
    text = env.get(CONFIG_ENV)
    if not text:
        return ServiceConfig()
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ServiceConfigError(f"{CONFIG_ENV} is not JSON ({exc}): {text[:200]!r}") from None
    if not isinstance(values, dict):
        raise ServiceConfigError(f"{CONFIG_ENV} must hold a JSON object, got {text[:200]!r}")
    return config_from_mapping(values, f"${CONFIG_ENV}")
