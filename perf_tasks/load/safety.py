"""Which targets a load run may hit: an allowlist, checked before the first request.

The default allowlist is loopback only (``127.0.0.1``, ``::1``, ``localhost``). An entry is a host
name (matched exactly, case-insensitive), an IP address, or a network in CIDR form
(``10.20.0.0/16``) that an IP-literal target must fall in. Host names are never resolved: a name
is allowed only when it is listed, so a DNS change cannot point a run somewhere else.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from perf_tasks.errors import UserError

DEFAULT_ALLOWLIST: tuple[str, ...] = ("127.0.0.1", "::1", "localhost")


class TargetNotAllowedError(UserError):
    """The target host is not in the allowlist (nothing was sent)."""


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
            f"{list(entries)}; add it explicitly (CLI: --allow {target.host}) if you own that system")
    return target
