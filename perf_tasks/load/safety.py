"""Which targets a load, stress or scalability run may hit: an allowlist, checked before the first
request.

An entry is a host name (matched exactly, case-insensitive), an IP address, or a network in CIDR
form (``10.20.0.0/16``) that an IP-literal target must fall in. Host names are never resolved: a
name is allowed only when it is listed, so a DNS change cannot point a run somewhere else.

The DEPLOYMENT decides the list (:func:`deployment_allowlist`): loopback (``127.0.0.1``, ``::1``,
``localhost``) always, plus ``allowlist`` in ``<config dir>/safety.yaml``, plus the comma-separated
entries of ``$PERF_LOAD_ALLOWLIST`` in the environment of the process that sends the load. Both are
set by whoever runs the machine, not by whoever triggers a run. A trigger param ``allow`` (or a
CLI's ``--allow``) may only NARROW it (:func:`narrow`): every entry it gives must lie inside the
deployment's list, else :class:`AllowlistWidenedError` names the entry and where the deployment's
list came from, before anything is sent.
"""
from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from perf_tasks.errors import UserError

DEFAULT_ALLOWLIST: tuple[str, ...] = ("127.0.0.1", "::1", "localhost")
ENV_VAR = "PERF_LOAD_ALLOWLIST"  # comma-separated hosts, IPs or CIDR networks, added to the deployment's list
CONFIG_FILE = "safety.yaml"  # in the config folder: schema_version 1, allowlist: [hosts, IPs, CIDRs]
CONFIG_SCHEMA_VERSION = 1
#: the trigger forms' help for an ``allow`` param (the DAG files import it: this module is light)
ALLOW_PARAM_HELP = ("It only NARROWS the deployment's allowlist (loopback + config/safety.yaml + $PERF_LOAD_ALLOWLIST "
                    "on the workers): every entry must lie inside it, else the run fails before any request. "
                    "Empty: the deployment's whole list.")


class TargetNotAllowedError(UserError):
    """The target host is not in the allowlist (nothing was sent)."""


class AllowlistWidenedError(TargetNotAllowedError):
    """A trigger param or ``--allow`` named an entry outside the deployment's allowlist (nothing was sent)."""


class BadTargetError(UserError):
    """The target URL is malformed (nothing was sent)."""


@dataclass(frozen=True)
class Target:
    """A checked base URL: requests go to ``base_url + path``."""

    base_url: str  # scheme://host[:port][/base/path] without a trailing slash
    scheme: str
    host: str  # lower case, IPv6 without brackets
    port: int


def _norm_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def parse_target(url: str, *, source: str = "target") -> Target:
    """Parse and normalise a base URL (http or https, a host, no query or fragment)."""
    if not isinstance(url, str) or not url.strip():
        raise BadTargetError(f"{source}: expected a URL like http://127.0.0.1:8000, got {url!r}")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise BadTargetError(f"{source}: {url!r} must start with http:// or https:// (got scheme {parts.scheme!r})")
    try:
        port = parts.port
    except ValueError as exc:
        raise BadTargetError(f"{source}: {url!r} has a bad port: {exc}") from None
    if not parts.hostname:
        raise BadTargetError(f"{source}: {url!r} names no host")
    if parts.query or parts.fragment:
        raise BadTargetError(f"{source}: {url!r}: give a base URL without '?query' or '#fragment' "
                             "(journey steps add paths and queries)")
    if parts.username or parts.password:
        raise BadTargetError(f"{source}: {url!r}: credentials in the URL are refused")
    host = _norm_host(parts.hostname)
    port = port or (443 if parts.scheme == "https" else 80)
    netloc = f"[{host}]" if ":" in host else host
    base = f"{parts.scheme}://{netloc}:{port}{parts.path.rstrip('/')}"
    return Target(base_url=base, scheme=parts.scheme, host=host, port=port)


def _entry_matches(entry: str, host: str) -> bool:
    entry = _norm_host(entry)
    if entry == host:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name: only an exact listing allows it
    try:
        if "/" in entry:
            return ip in ipaddress.ip_network(entry, strict=False)
        return ip == ipaddress.ip_address(entry)
    except ValueError:
        return False


def check_allowlist_entries(allow: Iterable[str], *, source: str = "allowlist") -> tuple[str, ...]:
    """Validate allowlist entries: host names, IPs or CIDR networks; wildcards are refused."""
    out = []
    for entry in allow:
        if not isinstance(entry, str) or not entry.strip():
            raise UserError(f"{source}: empty or non-string entry {entry!r}")
        e = entry.strip()
        if "*" in e or e in ("0.0.0.0/0", "::/0"):
            raise UserError(f"{source}: {e!r}: wildcards and catch-all networks are refused; list hosts")
        if "/" in e:
            try:
                ipaddress.ip_network(e, strict=False)
            except ValueError:
                raise UserError(f"{source}: {e!r} is neither a host nor a CIDR network") from None
        out.append(e)
    return tuple(out)


def check_target(url: str, allow: Iterable[str] = DEFAULT_ALLOWLIST, *, source: str = "target") -> Target:
    """Parse ``url`` and refuse it unless its host is allowed; raises before anything is sent."""
    target = parse_target(url, source=source)
    entries = check_allowlist_entries(allow)
    if not any(_entry_matches(e, target.host) for e in entries):
        raise TargetNotAllowedError(
            f"{source}: host {target.host!r} (from {url!r}) is not in the load-test allowlist "
            f"{list(entries)}; if you own that system, the deployment must list it: 'allowlist' in "
            f"config/{CONFIG_FILE} or ${ENV_VAR} (a trigger param or --allow can only narrow that list)")
    return target


@dataclass(frozen=True)
class Allowlist:
    """The deployment's allowlist and where it came from (``source``, for error messages)."""

    entries: tuple[str, ...]  # loopback first, then the config file's, then the environment's
    source: str  # e.g. "loopback + config/safety.yaml: allowlist + $PERF_LOAD_ALLOWLIST (unset)"
    config_file: str = f"config/{CONFIG_FILE}"  # the file a deployment edits to widen the list


def _load_config_entries(config_dir: str | Path | None) -> tuple[tuple[str, ...], str]:
    """``allowlist`` of ``<config_dir>/safety.yaml`` (absent file: none); errors name file and key path."""
    if config_dir is None:
        return (), ""
    path = Path(config_dir) / CONFIG_FILE
    if not path.exists():
        return (), ""
    from perf_tasks.config import load_yaml_mapping
    from perf_tasks.errors import ConfigError

    data = load_yaml_mapping(path, "safety config")
    unknown = sorted(set(data) - {"schema_version", "allowlist"})
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown} (known: schema_version, allowlist)")
    if data.get("schema_version") != CONFIG_SCHEMA_VERSION:
        raise ConfigError(f"{path}: schema_version: expected {CONFIG_SCHEMA_VERSION}, got "
                          f"{data.get('schema_version')!r}")
    raw = data.get("allowlist")
    if raw is None:
        return (), str(path)
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: allowlist: expected a list of hosts, IPs or CIDR networks, got {raw!r}")
    out = []
    for i, entry in enumerate(raw):
        try:
            out.extend(check_allowlist_entries([entry], source=f"{path}: allowlist[{i}]"))
        except UserError as exc:
            raise ConfigError(str(exc)) from None
    return tuple(out), str(path)


def deployment_allowlist(config_dir: str | Path | None,
                         environ: Mapping[str, str] | None = None) -> Allowlist:
    """Loopback, plus ``allowlist`` in ``<config_dir>/safety.yaml``, plus ``$PERF_LOAD_ALLOWLIST``
    (comma-separated; blanks ignored). Read where the load is sent from (the worker's environment)."""
    env = os.environ if environ is None else environ
    from_file, path = _load_config_entries(config_dir)
    text = env.get(ENV_VAR, "")
    from_env = check_allowlist_entries([e for e in text.split(",") if e.strip()], source=f"${ENV_VAR}")
    file = str(Path(config_dir) / CONFIG_FILE) if config_dir is not None else f"config/{CONFIG_FILE}"
    parts = ["loopback", f"{file}: allowlist" if path else f"{file} (absent)"]
    parts.append(f"${ENV_VAR} ({text.strip()!r})" if text.strip() else f"${ENV_VAR} (unset)")
    entries = tuple(dict.fromkeys((*DEFAULT_ALLOWLIST, *from_file, *from_env)))
    return Allowlist(entries=entries, source=" + ".join(parts), config_file=file)


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """An IP or CIDR entry as a network (an IP is its /32 or /128); None for a host name."""
    try:
        return ipaddress.ip_network(_norm_host(entry), strict=False)
    except ValueError:
        return None


def _within(entry: str, deployment: Iterable[str]) -> bool:
    """``entry`` allows nothing that ``deployment`` does not: a name listed by name, an IP or a
    network inside one of its IPs or networks."""
    net = _network(entry)
    for dep in deployment:
        if net is None:
            if _norm_host(dep) == _norm_host(entry):
                return True
            continue
        dep_net = _network(dep)
        if dep_net is not None and dep_net.version == net.version and net.subnet_of(dep_net):  # type: ignore[arg-type]
            return True
    return False


def narrow(deployment: Allowlist, requested: Iterable[str], *, source: str) -> tuple[str, ...]:
    """The allowlist a run uses: the deployment's whole list when ``requested`` is empty, else
    loopback plus the ``requested`` entries, every one of which must lie inside the deployment's
    list (:class:`AllowlistWidenedError` otherwise, naming the entry and where the list came from)."""
    entries = check_allowlist_entries(requested, source=source)
    if not entries:
        return deployment.entries
    for e in entries:
        if not _within(e, deployment.entries):
            raise AllowlistWidenedError(
                f"{source}: {e!r} is outside the deployment's load-test allowlist {list(deployment.entries)} "
                f"(from {deployment.source}). A trigger param or --allow may only narrow that list; to widen "
                f"it, the deployment adds {e!r} to 'allowlist' in {deployment.config_file} or to ${ENV_VAR}. "
                "Nothing was sent.")
    return tuple(dict.fromkeys((*DEFAULT_ALLOWLIST, *entries)))


def run_allowlist(config_dir: str | Path | None, requested: Iterable[str], *, source: str,
                  environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """:func:`narrow` of :func:`deployment_allowlist`: what a run's params may hit."""
    return narrow(deployment_allowlist(config_dir, environ), requested, source=source)
