"""The system under test, as configured: ``systems.yaml`` in the config folder (DESIGN.md,
"Systems under test"; docs/own-system.md).

A system is either a **service** the platform starts (a command with ``{port}``, its working
folder, environment, readiness and health paths, how to stop it) or a **url** of one it cannot
start: then every scenario that must start, kill or restart it is *not applicable*
(:class:`NotApplicableError`, naming the system and the reason), never run against another system.
Its ``name`` is part of the comparison key and of the alert state's key.

Validated once, at load; every error names the file, the key path and the bad value.
"""
from __future__ import annotations

import os
import re
import string
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from perf_tasks.config import format_validation_error, load_yaml_mapping
from perf_tasks.errors import ConfigError, UserError

SYSTEMS_FILE = "systems.yaml"
SYSTEM_ENV = "PERF_SYSTEM"
#: The platform's own checkout (where perf_tasks lives): ``{platform}`` in cwd, env and repository.
PLATFORM_ROOT = Path(__file__).resolve().parents[1]

#: Placeholders a service's command (and database_args) may use; values are filled in at start.
COMMAND_FIELDS = ("port", "host", "db", "workers", "python", "work", "platform")
PATH_FIELDS = ("platform",)
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_CALLABLE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
STOP_SIGNALS = ("SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2")


class NotApplicableError(UserError):
    """A scenario cannot serve this system (e.g. it must start the service, and the system only has
    a ``url``). Its message names the system and the reason; the caller reports *not applicable*."""


def _placeholders(text: str, allowed: tuple[str, ...], what: str) -> set[str]:
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    except ValueError as exc:
        raise ValueError(f"{what}: malformed placeholder in {text!r} ({exc})") from None
    unknown = sorted(names - set(allowed))
    if unknown:
        raise ValueError(f"{what}: unknown placeholder(s) {unknown} in {text!r}; known: "
                         f"{', '.join('{' + a + '}' for a in allowed)}")
    return names


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceDef(_Strict):
    command: list[str] = Field(min_length=1)
    cwd: str = ""  # "" = the platform's working folder; relative paths are to the config folder
    env: dict[str, str] = Field(default_factory=dict)
    ready_path: str = "/ready"
    health_path: str = "/health"
    stop_signal: Literal["SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2"] = "SIGTERM"
    stop_grace_s: float = Field(15.0, gt=0, le=600)
    ready_timeout_s: float = Field(90.0, gt=0, le=3600)
    workers: int = Field(1, ge=1, le=256)  # the default worker count; {workers} in the command takes it
    database_url: str | None = None  # the database it uses when a run gives none ({db})
    database_args: list[str] = Field(default_factory=list)  # appended only when a run has a database
    # appended when a failure scenario (perf_tasks.stress.failures) starts the service: what keeps a
    # start short and quiet on a test box (the demo: a small synthetic world); literal arguments
    fault_args: list[str] = Field(default_factory=list)
    # per failure scenario (its name in stress.yaml), the arguments the service needs for it,
    # appended after fault_args; ``{name}`` is that scenario's profile parameter ``name`` (e.g. the
    # demo's db_outage: ["--order-timeout-s", "{order_timeout_s}"]). feed_outage needs one (how the
    # service takes a pushed feed); without it that scenario is not applicable
    scenario_args: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("command", "database_args")
    @classmethod
    def _known_placeholders(cls, v: list[str]) -> list[str]:
        for i, part in enumerate(v):
            _placeholders(part, COMMAND_FIELDS, f"item {i}")
        return v

    @field_validator("ready_path", "health_path")
    @classmethod
    def _a_path(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError(f"expected a path starting with '/', got {v!r}")
        return v

    @field_validator("env", "cwd")
    @classmethod
    def _path_placeholders(cls, v: Any) -> Any:
        for text in (v.values() if isinstance(v, dict) else [v]):
            _placeholders(_ENV_REF.sub("", text), PATH_FIELDS, "value")
        return v

    @model_validator(mode="after")
    def _takes_a_port(self) -> ServiceDef:
        if not any("{port}" in p for p in self.command):
            raise ValueError(f"the command must take the port the platform chose: put '{{port}}' in it "
                             f"(got {self.command!r})")
        if self.database_args and not any("{db}" in p for p in self.database_args):
            raise ValueError(f"database_args must pass the database: put '{{db}}' in them (got {self.database_args!r})")
        return self


class Address(_Strict):
    host: str
    port: int = Field(ge=1, le=65535)


class Dependencies(_Strict):
    database: Address | None = None
    feed: Address | None = None


class Checks(_Strict):
    after_fault: str | None = None  # "no acknowledged write lost": the no-loss audit
    state: str | None = None  # "state equals what the store rebuilds"

    @field_validator("after_fault", "state")
    @classmethod
    def _callable(cls, v: str | None) -> str | None:
        if v is not None and not _CALLABLE.match(v):
            raise ValueError(f"expected 'package.module:function', got {v!r}")
        return v


class FingerprintDef(_Strict):
    repository: str | None = None  # its git SHA is recorded as the code under test
    packages: list[str] = Field(default_factory=list)  # versions recorded
    key_packages: list[str] | None = None  # in every benchmark's comparison key (default: all of packages)
    suite_key_packages: dict[str, list[str]] = Field(default_factory=dict)  # only in those suites' keys

    @field_validator("repository")
    @classmethod
    def _repo_placeholders(cls, v: str | None) -> str | None:
        if v is not None:
            _placeholders(_ENV_REF.sub("", v), PATH_FIELDS, "value")
        return v


class Workloads(_Strict):
    # a module with ``simulate(...)`` the market_crash scenario runs in process (the demo:
    # its crash module, config/systems.yaml); unset: market_crash is not applicable
    crash: str | None = None

    @field_validator("crash")
    @classmethod
    def _module(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", v):
            raise ValueError(f"expected a dotted module name, got {v!r}")
        return v


class SystemDef(_Strict):
    service: ServiceDef | None = None
    url: str | None = None
    journeys: str = "load_journeys.yaml"  # relative to the config folder
    dependencies: Dependencies = Dependencies()
    checks: Checks = Checks()
    workloads: Workloads = Workloads()
    fingerprint: FingerprintDef = FingerprintDef()
    description: str = ""

    @field_validator("url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {v!r}")
        return v

    @model_validator(mode="after")
    def _service_or_url(self) -> SystemDef:
        if (self.service is None) == (self.url is None):
            raise ValueError("give exactly one of 'service' (a command the platform starts) or 'url' "
                             "(a running service it cannot start)")
        return self


class SystemsFile(_Strict):
    schema_version: Literal[1] = 1
    default: str
    systems: dict[str, SystemDef] = Field(min_length=1)

    @field_validator("systems")
    @classmethod
    def _names(cls, v: dict[str, SystemDef]) -> dict[str, SystemDef]:
        for name in v:
            if not _NAME.match(name):
                raise ValueError(f"system name {name!r} must be a safe id: lower-case letters, digits, '_' "
                                 "or '-', starting with a letter (it names store folders)")
        return v

    @model_validator(mode="after")
    def _default_known(self) -> SystemsFile:
        if self.default not in self.systems:
            raise ValueError(f"default {self.default!r} is not one of the systems {sorted(self.systems)}")
        return self


def _expand(text: str, fields: dict[str, str]) -> str:
    text = _ENV_REF.sub(lambda m: os.environ.get(m.group(1), ""), text)
    return text.format(**fields)


@dataclass(frozen=True)
class System:
    """A system as loaded: its definition and where it came from (paths resolve against the config
    folder)."""

    name: str
    definition: SystemDef
    config_dir: Path
    source: str  # "<file>: systems.<name>"

    @property
    def service(self) -> ServiceDef | None:
        return self.definition.service

    @property
    def url(self) -> str | None:
        return self.definition.url

    def require_service(self, what: str) -> ServiceDef:
        """The service definition, for ``what`` (a scenario or step) that must start it; raises
        :class:`NotApplicableError` when the system only has a url."""
        if self.definition.service is None:
            raise NotApplicableError(
                f"{what} is not applicable to system {self.name!r}: it must start (and may kill) the service, "
                f"and {self.source} gives only url {self.definition.url!r}, no service command")
        return self.definition.service

    def path(self, text: str) -> Path:
        """A path from the definition: placeholders filled, relative to the config folder."""
        p = Path(_expand(text, {"platform": str(PLATFORM_ROOT)}))
        return p if p.is_absolute() else (self.config_dir / p)

    def cwd(self) -> Path | None:
        svc = self.definition.service
        return self.path(svc.cwd) if svc is not None and svc.cwd else None

    def env(self) -> dict[str, str]:
        """The service's environment: this process's, with the definition's values over it
        (``${NAME}`` expanded; empty entries of ``*PATH`` lists dropped)."""
        svc = self.definition.service
        out = dict(os.environ)
        for key, value in (svc.env if svc else {}).items():
            v = _expand(value, {"platform": str(PLATFORM_ROOT)})
            if key.endswith("PATH"):
                v = os.pathsep.join(p for p in v.split(os.pathsep) if p)
            out[key] = v
        return out

    def command(self, *, port: int, host: str, work: Path, workers: int | None = None,
                db: str | None = None) -> list[str]:
        """The start command with placeholders filled. ``db``: the run's database (else the
        definition's ``database_url``); database_args are added only when there is one."""
        svc = self.require_service("starting the service")
        workers = svc.workers if workers is None else workers
        db = db or svc.database_url
        parts = list(svc.command)
        if workers != svc.workers and not any("{workers}" in p for p in parts):
            raise NotApplicableError(f"system {self.name!r} runs as one process ({self.source}.service.command "
                                     f"takes no {{workers}}): {workers} workers are not applicable")
        if db:
            parts += svc.database_args
        elif any("{db}" in p for p in parts):
            raise ConfigError(f"{self.source}.service: the command takes {{db}} but this run has no database "
                              "and no database_url is set")
        fields = {"port": str(port), "host": host, "db": db or "", "workers": str(workers),
                  "python": sys.executable, "work": str(work), "platform": str(PLATFORM_ROOT)}
        return [p.format(**fields) for p in parts]

    def repository(self) -> Path | None:
        repo = self.definition.fingerprint.repository
        return self.path(repo) if repo else None

    def journeys_path(self) -> Path:
        return self.path(self.definition.journeys)


def load_systems(config_dir: str | Path) -> SystemsFile:
    path = Path(config_dir) / SYSTEMS_FILE
    if not path.exists():
        raise ConfigError(f"{path}: no systems file: the config folder {config_dir} must define the system "
                          f"under test in {SYSTEMS_FILE} (docs/own-system.md)")
    data = load_yaml_mapping(path, "systems file")
    try:
        return SystemsFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path))) from None


def load_system(config_dir: str | Path, name: str | None = None, *, source: str = "") -> System:
    """The system ``name`` (else ``$PERF_SYSTEM``, else the file's ``default``) of
    ``<config_dir>/systems.yaml``. An unknown name is a ConfigError listing the known ones."""
    d = Path(config_dir)
    systems = load_systems(d)
    path = d / SYSTEMS_FILE
    where = source
    if not name:
        name = os.environ.get(SYSTEM_ENV, "").strip() or None
        where = f"${SYSTEM_ENV}" if name else ""
    name = name or systems.default
    if name not in systems.systems:
        raise ConfigError(f"{where or 'system'}: unknown system {name!r}; {path} defines "
                          f"{sorted(systems.systems)}")
    return System(name=name, definition=systems.systems[name], config_dir=d, source=f"{path}: systems.{name}")


def optional_system(config_dir: str | Path, name: str | None = None) -> System | None:
    """The run's system, or None when the config folder defines none (no systems.yaml: a folder of
    benchmarks only). A run without a system records none in its fingerprint, so its key matches
    no run of a named system; a scenario that needs the service must call :func:`load_system`."""
    if not (Path(config_dir) / SYSTEMS_FILE).exists() and not name:
        return None
    return load_system(config_dir, name)
