"""What each stress scenario does and needs (``python -m perf_tasks stress --list``).

Read from the one place it is written: the scenario callable's docstring, whose first paragraph
says what it does and whose ``Needs:`` line says what it needs beyond this package. The resource
stressors write theirs in :mod:`perf_tasks.stress.stressors`; the failure scenarios' docstrings are
made from their registry entries in :mod:`perf_tasks.stress.failures` (so listing imports none of
their modules).
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

KINDS = ("stressor", "failure")


@dataclass(frozen=True)
class ScenarioInfo:
    name: str
    kind: str  # "stressor" (a resource stressor: a stressed window against an unstressed one) or "failure"
    what: str  # one line
    needs: str  # one line

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"scenario {self.name!r}: kind {self.kind!r} is not one of {KINDS}")
        if not self.what or not self.needs:
            raise ValueError(f"scenario {self.name!r}: its docstring must say what it does (first paragraph) "
                             "and what it needs (a 'Needs:' line)")


def describe(name: str, fn: Callable[..., Any], kind: str) -> ScenarioInfo:
    """A scenario's description from its docstring (first paragraph; the ``Needs:`` line)."""
    doc = inspect.getdoc(fn) or ""
    what = " ".join(doc.split("\n\n")[0].split()).rstrip(".")
    needs = next((" ".join(line.split()[1:]) for line in doc.splitlines() if line.strip().startswith("Needs:")), "")
    return ScenarioInfo(name=name, kind=kind, what=what, needs=needs)


def scenarios() -> list[ScenarioInfo]:
    """Every scenario, resource stressors first, in registry order."""
    from perf_tasks.stress.failures import FAILURES
    from perf_tasks.stress.stressors import STRESSORS

    groups: tuple[tuple[str, Mapping[str, Callable[..., Any]]], ...] = (("stressor", STRESSORS),
                                                                         ("failure", FAILURES))
    return [describe(name, fn, kind) for kind, reg in groups for name, fn in reg.items()]


def format_list(infos: list[ScenarioInfo]) -> str:
    """One line per scenario in aligned columns: name, kind, what it does, ``needs: ...``."""
    if not infos:
        return ""
    w_name = max(len(i.name) for i in infos)
    w_kind = max(len(i.kind) for i in infos)
    w_what = max(len(i.what) for i in infos)
    return "\n".join(f"{i.name:<{w_name}}  {i.kind:<{w_kind}}  {i.what:<{w_what}}  needs: {i.needs}"
                     for i in infos)
