"""Property-based fuzzing of the HTTP API from its own OpenAPI schema (schemathesis over real HTTP).

A real server subprocess on a free loopback port, with a temporary SQLite order store, serves
``/openapi.json``; schemathesis generates requests for every operation from that schema, valid
ones and deliberately invalid ones (wrong types, out-of-range numbers, missing or extra fields,
odd strings, unexpected methods), sends them over HTTP and checks each response:

- ``not_a_server_error``: no 5xx, whatever the input;
- ``response_schema_conformance`` / ``content_type_conformance``: a response whose status the
  schema declares has the declared media type and body shape (statuses the schema does not
  declare, e.g. a 413 on a GET, are not judged).

Random names are nearly always unknown (404), so the operations that take an account or a symbol
are fuzzed a second time with the names the service knows (``test_api_fuzz_known_names``).

The run is bounded and reproducible: ``MAX_EXAMPLES`` per operation and test, derandomized
generation with a fixed seed, no example database. Afterwards the server must still be ready, its
log must hold no traceback, and every operation must have been exercised; the requests sent per
operation and status are printed (``api fuzz: N requests over M operations ...``).
"""
from __future__ import annotations

import contextlib
import json
import signal
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from trading_agent.service.app import create_app
from trading_agent.service.launcher import ServerProcess, start_server

MAX_EXAMPLES = 100  # generated per operation and test; schemathesis's schema examples and coverage cases come on top
SEED = 20240611
# a small world (quick start, quick risk/recommendation calls): 5 symbols SYM000..SYM004, accounts acct-1..acct-5
# and a frozen market (--advance-ticks 0), so that the same requests get the same answers run after run
SERVER_ARGS = ["--log-level", "warning", "--symbols", "5", "--accounts", "5", "--ticks", "2000",
               "--history-days", "100", "--seed", "7", "--advance-ticks", "0"]
OPERATIONS = {"GET /health", "GET /ready", "GET /universe", "GET /market-data/{symbol}", "GET /portfolio/{account}",
              "GET /risk/{account}", "POST /risk/metrics", "GET /recommendations/{symbol}", "POST /orders",
              "POST /feed/ticks"}
# operations that take a symbol or an account: random names are nearly always 404 (or 422), so these are
# fuzzed once more with names the service knows (and, for orders, half the time with a realistic size and
# a price on the tick grid), which takes the requests past the lookups into the engine, risk and models
NAMED_OPERATIONS = {"GET /market-data/{symbol}": ("path", "symbol"), "GET /recommendations/{symbol}": ("path", "symbol"),
                    "GET /portfolio/{account}": ("path", "account"), "GET /risk/{account}": ("path", "account"),
                    "POST /risk/metrics": ("body", "account"), "POST /orders": ("body", "account", "symbol")}
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
TRACEBACK_MARKERS = ("Traceback (most recent call last)", "Exception in ASGI application")

CALLS: Counter[str] = Counter()  # requests sent, by operation label
STATUSES: Counter[tuple[str, int]] = Counter()  # (operation label, status) -> count


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("api-fuzz")
    srv = start_server(["--db", f"sqlite:///{tmp / 'orders.db'}", *SERVER_ARGS], log_path=tmp / "server.log",
                       ready_timeout_s=60)
    try:
        yield srv
    finally:
        code = srv.stop()
        assert code in (0, -signal.SIGTERM), f"unclean exit {code}; log {srv.log_path}:\n{srv.log_tail()}"


def _schema_config() -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "seed": SEED,
        "cache": {"enabled": False},
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        "request-timeout": 30,
    })


# The schema the app generates, in process (building the app builds no state): collection needs the
# operations before any server runs; test_served_schema_is_the_fuzzed_one checks that the server
# serves this very document at /openapi.json. (schemathesis.pytest.from_fixture, which would load it
# from the running server, fails under pytest 9.2: it sets Node._nodeid, which pytest 9.2 renamed.)
APP_SPEC = create_app().openapi()
schema = schemathesis.openapi.from_dict(APP_SPEC, config=_schema_config())


@pytest.fixture(scope="module", autouse=True)
def _report_counts(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if not CALLS:
        return
    lines = [f"api fuzz: {sum(CALLS.values())} requests over {len(CALLS)} operations "
             f"(max_examples={MAX_EXAMPLES}, seed={SEED}); by operation (status: count):"]
    for label in sorted(CALLS):
        codes = ", ".join(f"{s}: {n}" for (lbl, s), n in sorted(STATUSES.items()) if lbl == label)
        lines.append(f"  {label}: {CALLS[label]} ({codes})")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        print("\n" + "\n".join(lines), flush=True)


def test_served_schema_is_the_fuzzed_one(fuzz_server: ServerProcess) -> None:
    served = json.loads(urllib.request.urlopen(fuzz_server.base_url + "/openapi.json", timeout=10).read())
    assert served == APP_SPEC


@settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None, print_blob=True,
          suppress_health_check=list(HealthCheck))
@schema.parametrize()
def test_api_fuzz(case: schemathesis.Case, fuzz_server: ServerProcess) -> None:
    response = case.call(base_url=fuzz_server.base_url, timeout=30)
    CALLS[case.operation.label] += 1
    STATUSES[(case.operation.label, response.status_code)] += 1
    case.validate_response(response, checks=CHECKS)


@st.composite
def _known_names(draw: st.DrawFn, label: str, accounts: list[str], symbols: list[str]) -> schemathesis.Case:
    method, path = label.split(" ", 1)
    where, *names = NAMED_OPERATIONS[label]
    case = draw(schema[path][method].as_strategy(GenerationMode.POSITIVE))
    values = {"account": draw(st.sampled_from(accounts)), "symbol": draw(st.sampled_from(symbols))}
    target = case.path_parameters if where == "path" else case.body
    for name in names:
        target[name] = values[name]
    if label == "POST /orders" and draw(st.booleans()):  # a plausible order: engine-valid size and price
        case.body["quantity"] = draw(st.integers(1, 5_000))
        if case.body.get("type", "limit") == "limit":
            case.body["price"] = draw(st.integers(1, 100_000)) / 100
        else:
            case.body.pop("price", None)
    return case


@pytest.mark.parametrize("label", sorted(NAMED_OPERATIONS))
def test_api_fuzz_known_names(label: str, fuzz_server: ServerProcess) -> None:
    universe = json.loads(urllib.request.urlopen(fuzz_server.base_url + "/universe", timeout=10).read())

    @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(case=_known_names(label, universe["accounts"], universe["symbols"]))
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=fuzz_server.base_url, timeout=30)
        CALLS[case.operation.label] += 1
        STATUSES[(case.operation.label, response.status_code)] += 1
        case.validate_response(response, checks=CHECKS)

    run()


def test_fuzz_covered_every_operation_and_left_the_server_healthy(fuzz_server: ServerProcess) -> None:
    if not CALLS:
        pytest.skip("test_api_fuzz did not run in this session")
    declared = {f"{m.upper()} {p}" for p, ops in APP_SPEC["paths"].items() for m in ops}
    assert declared == OPERATIONS, "the API changed: update OPERATIONS (and look at the new operations' fuzzing)"
    assert set(CALLS) == declared
    assert min(CALLS.values()) >= 10, CALLS
    assert not any(s >= 500 for (_, s) in STATUSES), STATUSES
    with urllib.request.urlopen(fuzz_server.base_url + "/ready", timeout=10) as r:
        assert r.status == 200 and json.loads(r.read())["status"] == "ready"
    time.sleep(0.2)  # the log is written by the server process: let its last lines land
    log = Path(fuzz_server.log_path).read_text(errors="replace")
    assert not any(m in log for m in TRACEBACK_MARKERS), f"server log holds a traceback:\n{log[-4000:]}"
