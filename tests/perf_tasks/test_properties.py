"""Property-based tests (hypothesis) of the pipeline's input parsers: whatever a user writes into a
config file, a regression history or a load plan, the answer is a valid object or the error made
for the user (``ConfigError``/``UserError``, or ``ValueError`` for ``LoadPlan``) naming the file,
key or field: never another exception, never a traceback from the CLI.

- config loader: arbitrary and YAML-ish text (tags, dates, anchors, deep nesting) through
  ``load_yaml_mapping``; the real ``config/`` files, mutated (values replaced by odd YAML values,
  keys dropped or added) or replaced by arbitrary text, through ``load_config``;
- regression history: CSV-ish text through ``read_history_csv`` and, in process, the ``regress``
  command (exit 0 or 2) for every method; a handful of files through ``python -m perf_tasks
  regress`` as subprocesses;
- load plans: the real scenario and journey files, mutated, and scenarios generated field by field,
  through ``load_scenarios`` / ``load_journeys``; what loads must also scale for every profile,
  plan (``plan_for_scenario``: a ``LoadPlan`` or ``ConfigError``) and render every step of every
  journey; ``LoadPlan`` built from arbitrary numbers raises only a ``ValueError`` naming a field.

Bounded and reproducible: derandomized, no example database, at most ``N`` examples per test.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st

from perf_tasks.config import PROFILE_NAMES, PerfConfig, load_config, load_yaml_mapping
from perf_tasks.errors import ConfigError, UserError
from perf_tasks.load.journey import CompiledJourney, JourneysFile, load_journeys, resolve_journey
from perf_tasks.load.plan import LoadPlan
from perf_tasks.load.scenario import LoadScenario, load_scenarios, plan_for_scenario, scale_for_profile
from perf_tasks.load.schedule import Stage
from perf_tasks.regress.history import METHODS, History, read_history_csv

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config"
N = 200  # examples per property
PROPS = settings(max_examples=N, derandomize=True, database=None, deadline=None, print_blob=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                        HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def work() -> Iterator[Path]:
    """A scratch folder with a copy of ``config/`` (each example rewrites one file and restores it)."""
    d = Path(tempfile.mkdtemp(prefix="perf-props-"))
    shutil.copytree(CONFIG, d / "config", ignore=shutil.ignore_patterns("grafana"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def replaced(path: Path, content: str | bytes) -> Iterator[Path]:
    original = path.read_bytes()
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    try:
        yield path
    finally:
        path.write_bytes(original)


# -- strategies ---------------------------------------------------------------------------------------

# strings a human (or a template) might put in these files, and those that trip parsers and str.format
TRICKY = ["", " ", "~", "null", "yes", "no", "on", "nan", ".nan", "inf", "-.inf", "1e309", "-0", "0x1F", "0o99",
          "1_000", "2001-13-01", "2024-02-30", "12:30:00", "{}", "{0}", "{0[0]}", "{0.real}", "{0.x}", "{:d}",
          "{:03d}", "{!r}", "{:%}", "{", "}", "{{", "{x}", "{symbol}", "{request_index}", "SYM{:03d}", "acct-{}",
          "/", "/x/{symbol}", "/orders", "a:b", "#", "\t", "\n", "é", "\u2028", "\x85", "\ufeff", "GET", "POST",
          "open", "closed", "poisson", "constant", "sequence", "mix", "critical", "warning", "smoke", "full"]
safe_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
numbers = st.one_of(st.integers(-3, 3), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
                    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1e-320, 1e308, 0.5]))
scalars = st.one_of(st.none(), st.booleans(), numbers, safe_text, st.sampled_from(TRICKY),
                    st.dates(), st.datetimes())


def containers(children: st.SearchStrategy) -> st.SearchStrategy:
    keys = st.one_of(safe_text, st.sampled_from(TRICKY), st.integers(-2, 2), st.none(), st.booleans())
    return st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4))


yaml_values = st.recursive(scalars, containers, max_leaves=12)

# YAML-ish text: fragments of YAML syntax (tags, anchors, flow and block collections, documents)
FRAGMENTS = ["a: ", "b:\n  ", "- ", "? ", ": ", ", ", "[", "]", "{", "}", "'", '"', "&x ", "*x", "<<: *x\n", "|\n  ",
             ">\n  ", "---\n", "...\n", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "# c\n", "\n", "\n  ", "\t",
             "!!int ", "!!float ", "!!bool ", "!!str ", "!!null ", "!!binary ", "!!timestamp ", "!!set ", "!!omap ",
             "!!pairs ", "!!seq ", "!!map ", "!!merge ", "!!python/object:os.system ", "!custom ", "!<tag:x> ",
             "schema_version: 1\n", "suites:\n  ", "profiles:\n  ", "rules:\n  - ", "scenarios:\n  ", "journeys:\n  "]
yaml_ish_text = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.sampled_from(TRICKY), safe_text), max_size=40).map("".join),
    # deep nesting (past the recursion limit: the explicit example below; 1 to 2 s each, so not generated)
    st.tuples(st.sampled_from(["", "a: ", "a:\n  - "]), st.sampled_from([5, 100, 300]), st.sampled_from("[{")).map(
        lambda t: t[0] + t[2] * t[1] + {"[": "]", "{": "}"}[t[2]] * t[1]),
)


def mostly(valid: st.SearchStrategy, odd: st.SearchStrategy, one_in: int = 8) -> st.SearchStrategy:
    """``valid`` values, and ``odd`` ones about once in ``one_in`` draws (so that most generated
    documents get past the first check and exercise the later ones)."""
    # not i == 0: hypothesis draws the bounds of a range far more often than 1 / len
    return st.integers(0, 64 * one_in - 1).flatmap(lambda i: odd if i % one_in == 3 else valid)


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, original: Any, max_mutations: int = 3) -> Any:
    """``original`` (a YAML document's data) with 1..max_mutations edits: a value replaced, a key
    or item dropped, an unknown key added."""
    data = json.loads(json.dumps(original, default=str))  # a deep copy (the config files hold no dates)
    for _ in range(draw(st.integers(1, max_mutations))):
        path = draw(st.sampled_from(paths(data)))
        op = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
        if not path:
            if op == "replace":
                return draw(yaml_values)
            continue
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        last = path[-1]
        if op == "replace":
            parent[last] = draw(yaml_values)
        elif op == "drop":
            del parent[last]
        else:
            target = parent[last]
            if isinstance(target, dict):
                target[draw(st.one_of(safe_text, st.sampled_from(TRICKY)))] = draw(yaml_values)
            elif isinstance(target, list):
                target.append(draw(yaml_values))
    return data


def real(name: str) -> Any:
    return yaml.safe_load((CONFIG / name).read_text())


# -- config loader ----------------------------------------------------------------------------------

@PROPS
@given(text=yaml_ish_text)
@example(text="a: 2001-13-01")
@example(text="a: !!int x")
@example(text="a: !!timestamp x")
@example(text="a: " + "[" * 1000 + "]" * 1000)  # RecursionError in PyYAML
def test_load_yaml_mapping_gives_a_mapping_or_a_config_error(work: Path, text: str) -> None:
    path = work / "any.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))  # lone surrogates: not UTF-8, also an error
    try:
        data = load_yaml_mapping(path)
    except ConfigError as exc:
        event("ConfigError")
        assert str(path) in str(exc)
    else:
        event("mapping")
        assert isinstance(data, dict)


@PROPS
@given(data=st.binary(max_size=64))
@example(data=b"\xff\xfe\x00a: 1")
def test_load_yaml_mapping_of_bytes(work: Path, data: bytes) -> None:
    path = work / "bytes.yaml"
    path.write_bytes(data)
    try:
        assert isinstance(load_yaml_mapping(path), dict)
    except ConfigError as exc:
        assert str(path) in str(exc)


CONFIG_FILES = ("benchmarks.yaml", "profiles.yaml", "alerts.yaml")


def check_load_config(config_dir: Path, name: str) -> None:
    try:
        cfg = load_config(config_dir)
    except ConfigError as exc:
        event("ConfigError")
        assert name in str(exc), f"the error does not name {name}: {exc}"
    else:
        event("PerfConfig")
        assert isinstance(cfg, PerfConfig)


@PROPS
@given(name=st.sampled_from(CONFIG_FILES), st_data=st.data())
def test_load_config_with_a_mutated_file(work: Path, name: str, st_data: st.DataObject) -> None:
    data = st_data.draw(mutated(real(name)))
    with replaced(work / "config" / name, dump(data)):
        check_load_config(work / "config", name)


@PROPS
@given(name=st.sampled_from(CONFIG_FILES), text=yaml_ish_text)
def test_load_config_with_arbitrary_text(work: Path, name: str, text: str) -> None:
    with replaced(work / "config" / name, text):
        check_load_config(work / "config", name)


# -- regression history CSV ---------------------------------------------------------------------------

HEADERS = ["timestamp", "time", "Date", " run_id ", "run", "commit", "git_sha", "SHA", "value", "p95_ms", "rps", "",
           " ", "a,b", 'q"x', "é", "value"]
CELLS = ["", " ", "nan", "inf", "-inf", "-1", "0", "1e-320", "1e308", "1e309", "abc", "1,5", '"', "\n", "\r", "\x00",
         "1_000", " 12.5 ", "0x10", "deadbeef", "2024-01-01T00:00:00Z"]
cells = st.one_of(st.floats(min_value=1e-6, max_value=1e6).map(repr), st.integers(-5, 10 ** 6).map(str),
                  st.sampled_from(CELLS), st.text(max_size=5))


@st.composite
def csv_texts(draw: st.DrawFn) -> str:
    header = draw(st.lists(st.one_of(st.sampled_from(HEADERS), st.text(max_size=5)), max_size=5))
    if draw(st.booleans()):  # most files have a time column and a numeric one
        header = ["timestamp", *header, draw(st.sampled_from(["value", "latency_p95_ms"]))]
    width = len(header)
    row = st.lists(cells, min_size=max(0, width - 1), max_size=width + 1) if draw(st.booleans()) \
        else st.lists(cells, max_size=6)
    rows = draw(st.lists(row, max_size=40))
    if draw(st.booleans()):  # well-formed CSV (quoted where needed) ...
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
        writer.writerow(header)
        writer.writerows(rows)
        return buf.getvalue()
    # ... or hand-joined (stray quotes, embedded newlines and commas break it)
    return "\n".join(",".join(r) for r in [header, *rows])


@st.composite
def numeric_histories(draw: st.DrawFn) -> str:
    """Well-formed histories with odd numbers: constant runs, steps, spikes, extreme magnitudes."""
    n = draw(st.integers(0, 40))
    base = draw(st.sampled_from([1e-300, 1e-6, 1.0, 100.0, 1e6, 1e300]))
    kind = draw(st.sampled_from(["const", "step", "spike", "random"]))
    values = []
    for i in range(n):
        v = {"const": base, "step": base * (1 if i < n // 2 else draw(st.sampled_from([0.5, 2.0, 1e10]))),
             "spike": base * (50.0 if i == n // 3 else 1.0),
             "random": draw(st.floats(min_value=1e-300, max_value=1e300))}[kind]
        values.append(v)
    commits = draw(st.booleans())
    lines = ["timestamp,commit,value" if commits else "timestamp,value"]
    lines += [f"{i},c{i},{v!r}" if commits else f"{i},{v!r}" for i, v in enumerate(values)]
    return "\n".join(lines) + "\n"


def check_history(result: list[History]) -> None:
    assert result, "an empty result instead of an error"
    for h in result:
        assert len(h.labels) == len(h.values) == len(h.commits)
        assert all(math.isfinite(v) and v > 0 for v in h.values)


@PROPS
@given(text=st.one_of(csv_texts(), numeric_histories()),
       metric=st.one_of(st.none(), st.sampled_from(["value", "latency_p95_ms", "p95_ms", "x"])))
@example(text="", metric=None)
@example(text="timestamp,value\n", metric=None)
@example(text="timestamp,value\n1,2,3\n", metric=None)
@example(text="timestamp,value\n1,nan\n", metric="value")
@example(text='timestamp,value\n"1,2\n', metric=None)
def test_read_history_csv_gives_histories_or_a_user_error(work: Path, text: str, metric: str | None) -> None:
    path = work / "history.csv"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        result = read_history_csv(path, metric=metric)
    except UserError as exc:
        event("UserError")
        assert str(path) in str(exc)
    else:
        event("histories")
        check_history(result)


def run_regress_in_process(path: Path, method: str) -> tuple[int, str, str]:
    from perf_tasks import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["regress", "--history", str(path), "--method", method, "--json"])
    return code, out.getvalue(), err.getvalue()


@settings(PROPS, max_examples=120)
@given(text=st.one_of(numeric_histories(), csv_texts()), method=st.sampled_from(METHODS))
def test_regress_command_in_process_exits_0_or_2(work: Path, text: str, method: str) -> None:
    path = work / "regress.csv"
    path.write_text(text)
    code, out, err = run_regress_in_process(path, method)
    event(f"exit {code}")
    assert code in (0, 2), (code, err)
    if code == 0:
        json.loads(out)
    else:
        assert err.startswith("error: ") and str(path) in err


@settings(PROPS, max_examples=2, phases=[Phase.explicit, Phase.generate])  # a subprocess per file: a few
@given(texts=st.lists(st.one_of(numeric_histories(), csv_texts()), min_size=4, max_size=4))
def test_regress_cli_subprocess_exits_0_or_2(work: Path, texts: list[str]) -> None:
    files = []
    for i, text in enumerate(texts):
        files.append(work / f"cli-{i}.csv")
        files[-1].write_text(text)
    procs = [subprocess.Popen([sys.executable, "-m", "perf_tasks", "regress", "--history", str(f), "--json"], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for f in files]
    for f, p in zip(files, procs):
        out, err = p.communicate(timeout=60)
        assert p.returncode in (0, 2), f"{f.read_text()[:500]!r}\n{err[-2000:]}"
        assert "Traceback" not in err, err[-2000:]
        if p.returncode == 0:
            json.loads(out)
        else:
            assert f"error: {f}" in err


# -- load scenarios, journeys and plans ---------------------------------------------------------------

@pytest.fixture(scope="module")
def journeys() -> JourneysFile:
    return load_journeys(CONFIG / "load_journeys.yaml")


def check_scenarios_plan(scenarios: dict[str, LoadScenario], journeys_file: JourneysFile) -> None:
    """What loads must scale for every profile and give a LoadPlan or a ConfigError."""
    for s in scenarios.values():
        assert isinstance(s, LoadScenario)
        for profile in PROFILE_NAMES:
            scaled = scale_for_profile(s, profile)
            try:
                plan = plan_for_scenario(scaled, "http://127.0.0.1:8000", journeys_file)
            except ConfigError as exc:
                event("plan: ConfigError")
                assert str(exc)
            else:
                event("plan: LoadPlan")
                assert isinstance(plan, LoadPlan) and plan.max_requests >= 1


def check_load_scenarios(path: Path, journeys_file: JourneysFile) -> None:
    try:
        scenarios = load_scenarios(path)
    except ConfigError as exc:
        event("load: ConfigError")
        assert str(path) in str(exc)
        return
    event("load: scenarios")
    check_scenarios_plan(scenarios, journeys_file)


@PROPS
@given(st_data=st.data())
def test_load_scenarios_mutated(work: Path, journeys: JourneysFile, st_data: st.DataObject) -> None:
    data = st_data.draw(mutated(real("load_scenarios.yaml")))
    path = work / "scenarios.yaml"
    path.write_text(dump(data))
    check_load_scenarios(path, journeys)


ODD = [0, -1, 0.0, -0.0, 1e-300, 1e300, math.inf, -math.inf, math.nan, "5", "", None, True, [], {}]
odd = st.one_of(st.sampled_from(ODD), scalars)
positive_ish = mostly(st.one_of(st.floats(min_value=1e-3, max_value=1e5), st.integers(1, 10 ** 6)), odd)


@st.composite
def scenario_docs(draw: st.DrawFn) -> dict:
    fields = {"users": draw(mostly(st.integers(1, 20_000), odd)),
              "requests_per_minute": draw(mostly(st.floats(1, 1e6), odd)),
              "duration_s": draw(mostly(st.floats(1, 1e5), odd)), "p95_target_ms": draw(positive_ish),
              "max_error_rate_pct": draw(mostly(st.floats(0, 100), odd))}
    optional = {"warn_error_rate_pct": mostly(st.floats(0, 5), odd),
                "model": mostly(st.sampled_from(["open", "closed"]), odd),
                "arrival": mostly(st.sampled_from(["constant", "poisson"]), odd),
                "ramp": st.lists(st.fixed_dictionaries({"duration_s": mostly(st.floats(1e-3, 100), odd),
                                                        "requests_per_minute": mostly(st.floats(0, 1e6), odd)}),
                                 max_size=3),
                "timeout_s": positive_ish, "max_requests": mostly(st.integers(1, 10 ** 8), odd),
                "profile_duration_s": st.dictionaries(mostly(st.sampled_from(["smoke", "standard"]), odd),
                                                      positive_ish, max_size=2),
                "profile_requests_per_minute": st.dictionaries(st.sampled_from(["smoke", "standard"]), positive_ish,
                                                               max_size=2),
                "profile_users": st.dictionaries(st.sampled_from(["smoke", "standard"]),
                                                 mostly(st.integers(1, 1000), odd), max_size=2),
                "journey": mostly(st.sampled_from(["user_workload", "trading_session", "mixed_traffic"]), odd)}
    for key, strategy in optional.items():
        if draw(st.booleans()):
            fields[key] = draw(strategy)
    if draw(st.integers(0, 15)) == 0:
        fields[draw(safe_text)] = draw(yaml_values)  # an unknown key
    name = draw(mostly(st.sampled_from(["normal", "peak", "x1"]), st.sampled_from(["Bad-Name", "", "1x"])))
    return {"schema_version": draw(mostly(st.just(1), odd)), "scenarios": {name: fields}}


@PROPS
@given(doc=scenario_docs())
@example(doc={"schema_version": 1, "scenarios": {"s": {
    "users": 10, "requests_per_minute": 600, "duration_s": math.inf, "p95_target_ms": 100, "max_error_rate_pct": 5,
    "ramp": [{"duration_s": 1, "requests_per_minute": 60}]}}})
@example(doc={"schema_version": 1, "scenarios": {"s": {
    "users": 10, "requests_per_minute": 600, "duration_s": 60, "p95_target_ms": 100, "max_error_rate_pct": 5,
    "ramp": [{"duration_s": 1, "requests_per_minute": math.inf}]}}})
@example(doc={"schema_version": 1, "scenarios": {"s": {
    "users": 10, "requests_per_minute": 600, "duration_s": 1e300, "p95_target_ms": 100, "max_error_rate_pct": 5,
    "ramp": [{"duration_s": 1e-300, "requests_per_minute": 60}]}}})
def test_generated_scenarios_load_and_plan(work: Path, journeys: JourneysFile, doc: dict) -> None:
    path = work / "gen-scenarios.yaml"
    path.write_text(dump(doc))
    check_load_scenarios(path, journeys)


def check_journeys_render(file: JourneysFile, source: str) -> None:
    """Every journey of a file that loaded compiles, and renders every step for a few draws."""
    rng = random.Random(0)
    for name in file.journeys:
        compiled = CompiledJourney(resolve_journey(file, name, source=source), "http://127.0.0.1:8000")
        for k in range(3):
            params = compiled.draw_params(rng)
            params["request_index"] = k
            for step in range(len(compiled.steps)):
                req = compiled.render(step, params)
                assert req.path.startswith("/")
                if req.body is not None:
                    json.loads(req.body)


@PROPS
@given(st_data=st.data())
@example(st_data=None)  # the file as it is
def test_load_journeys_mutated(work: Path, st_data: st.DataObject | None) -> None:
    data = real("load_journeys.yaml") if st_data is None else st_data.draw(mutated(real("load_journeys.yaml")))
    path = work / "journeys.yaml"
    path.write_text(dump(data))
    try:
        file = load_journeys(path)
    except ConfigError as exc:
        event("ConfigError")
        assert str(path) in str(exc)
        return
    event("JourneysFile")
    check_journeys_render(file, str(path))


formats = mostly(st.sampled_from(["SYM{:03d}", "acct-{}", "{}", "x{}y", "{:>4}"]), st.sampled_from(TRICKY), 4)
param_specs = mostly(st.one_of(
    st.fixed_dictionaries({"values": st.lists(st.one_of(safe_text, st.integers(-5, 100), st.floats()),
                                              min_size=1, max_size=3)}, optional={"format": formats}),
    st.tuples(st.integers(-5, 100), st.integers(0, 50)).map(lambda t: {"range": [t[0], t[0] + t[1]]}),
    st.fixed_dictionaries({"range": st.tuples(st.integers(-5, 100), st.integers(0, 50)).map(
        lambda t: [t[0], t[0] + t[1]]), "format": formats}),
    st.fixed_dictionaries({"uniform": st.tuples(st.floats(-1e6, 1e6), st.floats(0, 1e6)).map(
        lambda t: [t[0], t[0] + t[1]])}, optional={"format": formats, "decimals": st.integers(-1, 13)}),
), st.one_of(yaml_values, st.fixed_dictionaries({"uniform": st.lists(st.floats(), min_size=2, max_size=2)})))
templates = ["{account}", "{symbol}", "{n}", "{request_index}", "x{n}y", "{n}{n}"]
bodies = mostly(st.one_of(st.none(), st.dictionaries(st.sampled_from(["account", "symbol", "qty", "side"]),
                                                     st.one_of(st.sampled_from(templates), scalars), max_size=4)),
                yaml_values)
paths_ = mostly(st.sampled_from(["/x/{n}", "/x/{symbol}/{account}", "/{request_index}", "/orders", "/a?b={n}"]),
                st.one_of(st.sampled_from(["x", "/{n:03d}", "/{0}", "/{", "/{n!r}", "/{m}"]), safe_text))


@st.composite
def journey_docs(draw: st.DrawFn) -> dict:
    params = draw(st.dictionaries(mostly(st.sampled_from(["n", "symbol", "account"]), st.sampled_from(["Bad", ""])),
                                  param_specs, max_size=3))
    steps = draw(st.lists(st.fixed_dictionaries(
        {"name": mostly(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from(["Bad", "", "1"])), "path": paths_},
        optional={"method": mostly(st.sampled_from(["GET", "POST"]), odd), "body": bodies,
                  "weight": positive_ish, "headers": mostly(st.dictionaries(safe_text, safe_text, max_size=2), odd),
                  "think_time_s": st.one_of(positive_ish, st.fixed_dictionaries(
                      {"min_s": positive_ish, "max_s": positive_ish}))}), min_size=1, max_size=3,
        unique_by=lambda step: step["name"]))
    journey = {"mode": draw(mostly(st.sampled_from(["sequence", "mix"]), odd)), "steps": steps}
    if draw(st.booleans()):
        journey["params"] = draw(st.dictionaries(st.sampled_from(["n", "symbol"]), param_specs, max_size=1))
    name = draw(mostly(st.sampled_from(["j", "k"]), st.sampled_from(["J", "", "bad-name"])))
    return {"schema_version": 1, "params": params, "journeys": {name: journey}}


@PROPS
@given(doc=journey_docs())
@example(doc={"schema_version": 1, "params": {"n": {"range": [1, 5], "format": "{0[0]}"}},
              "journeys": {"j": {"steps": [{"name": "a", "path": "/x/{n}"}]}}})
@example(doc={"schema_version": 1, "params": {"n": {"values": [1, "a"], "format": "{:d}"}},
              "journeys": {"j": {"steps": [{"name": "a", "path": "/x/{n}"}]}}})
def test_generated_journeys_load_and_render(work: Path, doc: dict) -> None:
    path = work / "gen-journeys.yaml"
    path.write_text(dump(doc))
    try:
        file = load_journeys(path)
    except ConfigError as exc:
        event("ConfigError")
        assert str(path) in str(exc)
        return
    event("JourneysFile")
    check_journeys_render(file, str(path))


# LoadPlan fields that take numbers, and what a valid value is
PLAN_NUMBERS = {
    "duration_s": lambda v: isinstance(v, (int, float)) and math.isfinite(v) and v > 0,
    "timeout_s": lambda v: isinstance(v, (int, float)) and math.isfinite(v) and v > 0,
    "users": lambda v: isinstance(v, int) and v >= 1,
    "max_requests": lambda v: isinstance(v, int) and v >= 1,
    "rate_per_s": None,  # open model only (below)
    "shard_index": None, "shard_count": None,  # together (below)
    "connections": lambda v: v is None or v >= 1,
    "late_threshold_ms": lambda v: v >= 0, "send_grace_s": lambda v: v >= 0,
    "ramp_up_s": lambda v: v >= 0, "sample_interval_s": lambda v: v >= 0,
}
any_number = st.one_of(st.integers(-3, 10 ** 9), st.floats(allow_nan=True, allow_infinity=True),
                       st.sampled_from([0, 1, 2, 0.0, -0.0, 1e-300, 1e300]))


@st.composite
def plan_kwargs(draw: st.DrawFn) -> dict:
    kwargs: dict[str, Any] = {"scenario": "p", "target_url": "http://127.0.0.1:8000", "journey_name": "j",
                              "journey": None, "duration_s": 60.0, "users": 10, "rate_per_s": 10.0}
    for name in PLAN_NUMBERS:
        choice = draw(st.integers(0, 9))
        if choice < 5:
            continue  # the default
        if choice < 9:  # a plausible value
            kwargs[name] = draw({"users": st.integers(1, 10_000), "max_requests": st.integers(1, 10 ** 8),
                                 "shard_index": st.integers(0, 3), "shard_count": st.integers(1, 4),
                                 "connections": st.one_of(st.none(), st.integers(1, 1000))}.get(
                name, st.floats(0.001, 1e5)))
        else:
            kwargs[name] = draw(st.one_of(any_number, st.none()) if name == "connections" else any_number)
    kwargs["model"] = draw(mostly(st.sampled_from(["open", "closed"]), st.just("other")))
    kwargs["arrival"] = draw(mostly(st.sampled_from(["constant", "poisson"]), st.just("other")))
    if draw(st.booleans()):
        stages = draw(st.lists(st.tuples(st.floats(1e-3, 1e4), st.floats(0, 1e4)), max_size=3))
        kwargs["ramp"] = tuple(Stage(d, r) for d, r in stages)
    return kwargs


@PROPS
@given(kwargs=plan_kwargs())
def test_load_plan_raises_only_value_errors_naming_a_field(journeys: JourneysFile, kwargs: dict) -> None:
    kwargs["journey"] = resolve_journey(journeys, "user_workload", source="journeys")
    try:
        plan = LoadPlan(**kwargs)
    except ValueError as exc:
        event("ValueError")
        names = {f.name for f in dataclass_fields(LoadPlan)}
        assert str(exc).startswith("load plan 'p': ") and any(n in str(exc) for n in names | {"ramp"}), str(exc)
        return
    event("LoadPlan")
    for name, valid in PLAN_NUMBERS.items():
        if valid is not None:
            assert valid(getattr(plan, name)), f"{name}={getattr(plan, name)!r} accepted"
    assert 0 <= plan.shard_index < plan.shard_count
    assert plan.model in ("open", "closed") and plan.arrival in ("constant", "poisson")
    if plan.model == "open":
        assert math.isfinite(plan.rate_per_s) and plan.rate_per_s > 0
        assert sum(s.duration_s for s in plan.ramp) <= plan.duration_s + 1e-9
    assert plan.pool_size() >= 1
