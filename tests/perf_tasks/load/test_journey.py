from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
import yaml

from perf_tasks.errors import ConfigError
from perf_tasks.load.journey import CompiledJourney, OpenModelRequests, load_journeys, resolve_journey
from tests.conftest import REPO

SHIPPED = REPO / "config" / "load_journeys.yaml"


def _compiled(name: str) -> CompiledJourney:
    return CompiledJourney(resolve_journey(load_journeys(SHIPPED), name, source="x"))


def test_default_journey_is_the_spec_user_workload():
    j = _compiled("user_workload")
    assert j.names == ("market_data", "portfolio", "risk", "recommendations")
    reqs = [OpenModelRequests(j, random.Random(1))(k) for k in range(8)]
    paths = [r.path for r in reqs]
    assert [p.rsplit("/", 1)[0] for p in paths[:4]] == ["/market-data", "/portfolio", "/risk", "/recommendations"]
    # one cycle of the sequence uses one symbol and one account
    assert paths[0].rsplit("/", 1)[1] == paths[3].rsplit("/", 1)[1]
    assert paths[1].rsplit("/", 1)[1] == paths[2].rsplit("/", 1)[1]
    symbols = {OpenModelRequests(j, random.Random(s))(0).path.rsplit("/", 1)[1] for s in range(300)}
    accounts = {OpenModelRequests(j, random.Random(s))(1).path.rsplit("/", 1)[1] for s in range(1000)}
    assert symbols <= {f"SYM{i:03d}" for i in range(50)} and len(symbols) > 40
    assert accounts <= {f"acct-{i}" for i in range(1, 101)} and len(accounts) > 90


def test_order_body_keeps_parameter_types():
    j = _compiled("trading_session")
    req = OpenModelRequests(j, random.Random(2))(4)
    assert req.method == "POST" and req.path == "/orders"
    body = json.loads(req.body)
    assert set(body) == {"account", "symbol", "side", "type", "quantity"}
    assert isinstance(body["quantity"], int) and 1 <= body["quantity"] <= 100
    assert body["side"] in ("buy", "sell") and body["type"] == "market"
    assert req.headers["Content-Type"] == "application/json"


def test_mix_journey_picks_steps_by_weight():
    j = _compiled("mixed_traffic")
    gen = OpenModelRequests(j, random.Random(3))
    counts = Counter(j.names[gen(k).step] for k in range(20_000))
    assert abs(counts["market_data"] / 20_000 - 0.40) < 0.02
    assert abs(counts["submit_order"] / 20_000 - 0.05) < 0.01


def _write(tmp_path: Path, data: dict) -> Path:
    p = tmp_path / "journeys.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def _base() -> dict:
    return {"schema_version": 1, "params": {"symbol": {"values": ["A", "B"]}},
            "journeys": {"j": {"steps": [{"name": "get", "path": "/q/{symbol}"}]}}}


@pytest.mark.parametrize("mutate,needles", [
    (lambda d: d["journeys"]["j"]["steps"][0].update(path="/q/{sym}"),
     ["journeys.j.steps[0].path", "unknown parameter", "'sym'"]),
    (lambda d: d["journeys"]["j"]["steps"][0].update(colour="red"),
     ["journeys.j.steps[0].colour", "Extra inputs are not permitted"]),
    (lambda d: d["journeys"]["j"]["steps"][0].update(method="FETCH"),
     ["journeys.j.steps[0].method", "'FETCH'"]),
    (lambda d: d["params"].update(n={"range": [5, 1]}), ["params.n", "low bound above high bound"]),
    (lambda d: d["params"].update(n={"values": [1], "range": [1, 2]}), ["params.n", "exactly one of"]),
    (lambda d: d["journeys"]["j"]["steps"][0].update(path="no-slash"), ["journeys.j.steps[0].path", "start with '/'"]),
    (lambda d: d["journeys"]["j"]["steps"][0].update(body={"x": "{nope}"}), ["journeys.j.steps[0].body", "'nope'"]),
    (lambda d: d["journeys"]["j"]["steps"].append({"name": "get", "path": "/"}), ["unique", "'get'"]),
])
def test_bad_journeys_name_file_key_path_and_value(tmp_path, mutate, needles):
    data = _base()
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load_journeys(path)
    msg = str(err.value)
    assert str(path) in msg
    for needle in needles:
        assert needle in msg


def test_unknown_journey_lists_the_known_ones(tmp_path):
    file = load_journeys(_write(tmp_path, _base()))
    with pytest.raises(ConfigError, match=r"journey 'nope' is not defined; known: \['j'\]"):
        resolve_journey(file, "nope", source="j.yaml")


def test_request_index_is_built_in_and_paths_are_quoted(tmp_path):
    data = _base()
    data["params"]["symbol"] = {"values": ["A B/C"]}
    data["journeys"]["j"]["steps"][0]["path"] = "/q/{symbol}/{request_index}"
    j = CompiledJourney(resolve_journey(load_journeys(_write(tmp_path, data)), "j", source="x"))
    assert OpenModelRequests(j, random.Random(0))(41).path == "/q/A%20B%2FC/41"
