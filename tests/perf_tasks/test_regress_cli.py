"""``python -m perf_tasks regress`` (perf_tasks/regress/cli.py): directions from metric names, the
column checks and mapping, skipped columns, time order, --fail-on and the two outputs. Run through
``perf_tasks.cli.main`` (exit code returned), once as a subprocess."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from perf_tasks import cli
from perf_tasks.regress.history import id_like_name, infer_direction, load_history_csv
from tests.conftest import REPO

FELL_17 = REPO / "tests" / "fixtures" / "regress" / "throughput_fell_17pct.csv"


def _regress(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["regress", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _stepped(n: int = 40, at: int = 25, factor: float = 1.2, level: float = 100.0, seed: int = 3) -> list[float]:
    rng = np.random.default_rng(seed)
    return [round(level * (factor if i >= at else 1.0) * (1 + 0.005 * rng.normal()), 3) for i in range(n)]


def _write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def _days(n: int) -> list[str]:
    return [f"2026-{1 + i // 28:02d}-{1 + i % 28:02d}T06:00:00Z" for i in range(n)]


# --- the case of the issue: a throughput that fell 17 % ------------------------------------------

def test_a_throughput_that_fell_17_pct_is_a_regression_by_default(capsys):
    code, out, _ = _regress(capsys, "--history", str(FELL_17))
    assert code == 0  # --fail-on never (the default) reports, never fails
    assert "throughput_per_s: 50 runs" in out and "higher is better (from its name: 'per_s')" in out
    assert "REGRESSION at run 31 of 50 (2026-01-31T02:00:00Z): 1,000 -> 829.6 (-17.0 %); commits c029..c030" in out
    assert "latency_p95_ms: 50 runs" in out and "lower is better (from its name: 'latency')" in out
    assert "improvement" not in out
    assert "1 regression: throughput_per_s at 2026-01-31T02:00:00Z" in out


def test_fail_on_regression_exits_1_when_one_is_found_else_0(capsys):
    assert _regress(capsys, "--history", str(FELL_17), "--fail-on", "regression")[0] == 1
    code, out, _ = _regress(capsys, "--history", str(FELL_17), "--fail-on", "regression", "--metric",
                            "latency_p95_ms")
    assert code == 0 and "no change found" in out and "no regression" in out


def test_json_keeps_its_shape_and_adds_the_direction(capsys):
    code, out, err = _regress(capsys, "--history", str(FELL_17), "--json")
    doc = json.loads(out)  # nothing but the document on stdout
    assert code == 0 and set(doc) == {"throughput_per_s", "latency_p95_ms"}
    tput = doc["throughput_per_s"]
    assert {"runs", "method", "changes"} <= set(tput) and tput["runs"] == 50 and tput["method"] == "history"
    assert (tput["direction"], tput["direction_from"]) == ("higher", "name")
    (change,) = tput["changes"]
    assert (change["kind"], change["index"], change["commit_range"]) == ("regression", 30, "c029..c030")
    assert -17.5 < change["change_pct"] < -16.5
    assert "note: column 'build_number' skipped: an id or build number by its name" in err


def test_the_cli_runs_as_a_subprocess(tmp_path):
    out = subprocess.run([sys.executable, "-m", "perf_tasks", "regress", "--history", str(FELL_17),
                          "--fail-on", "regression"], capture_output=True, text=True, cwd=REPO,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert out.returncode == 1, out.stderr
    assert "REGRESSION at run 31 of 50" in out.stdout and "exit 1 (--fail-on regression)" in out.stdout


# --- directions ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, direction, clue", [
    ("throughput_per_s", "higher", "per_s"),
    ("throughput", "higher", "throughput"),
    ("requests_per_second", "higher", "per_second"),
    ("orders.ops_per_min", "higher", "per_min"),
    ("requests_rps", "higher", "rps"),
    ("ops", "higher", "ops"),
    ("cache_hit_rate_pct", "higher", "hit"),
    ("availability_pct", "higher", "availability"),
    ("latency_p95_ms", "lower", "latency"),
    ("recover_s", "lower", "recover"),
    ("duration_s", "lower", "duration"),
    ("rss_max_bytes", "lower", "rss"),
    ("system_memory_pct_max", "lower", "memory"),
    ("error_rate_pct", "lower", "error"),
    ("errors_per_s", "lower", "errors"),  # a count of failures is lower whatever it is per
    ("latency_mean_per_item_ms", "lower", "latency"),  # per item is not a rate of work
    ("value", "lower", None),  # says neither: assumed
])
def test_direction_is_read_from_the_metric_name(name, direction, clue):
    guess = infer_direction(name)
    assert (guess.direction, guess.clue) == (direction, clue)


def test_a_direction_per_column_overrides_the_name(capsys):
    code, out, _ = _regress(capsys, "--history", str(FELL_17), "--direction", "throughput_per_s=lower")
    assert code == 0 and "lower is better (--direction throughput_per_s=lower)" in out
    assert "improvement at run 31 of 50" in out and "REGRESSION" not in out


def test_a_bare_direction_still_sets_every_column(capsys):
    code, out, _ = _regress(capsys, "--history", str(FELL_17), "--direction", "lower", "--json")
    doc = json.loads(out)
    assert {m: (d["direction"], d["direction_from"]) for m, d in doc.items()} == {
        "throughput_per_s": ("lower", "option"), "latency_p95_ms": ("lower", "option")}
    assert doc["throughput_per_s"]["changes"][0]["kind"] == "improvement"


def test_a_column_override_beats_the_bare_direction(capsys):
    code, out, _ = _regress(capsys, "--history", str(FELL_17), "--direction", "lower", "--direction",
                            "throughput_per_s=higher", "--json")
    doc = json.loads(out)
    assert doc["throughput_per_s"]["direction"] == "higher" and doc["latency_p95_ms"]["direction"] == "lower"


def test_a_name_that_says_neither_is_assumed_lower_and_the_output_says_so(tmp_path, capsys):
    path = _write(tmp_path / "h.csv", "timestamp,value", [f"{t},{v}" for t, v in zip(_days(40), _stepped())])
    code, out, _ = _regress(capsys, "--history", str(path))
    assert code == 0
    assert "value: 40 runs" in out
    assert "lower is better (ASSUMED: its name says neither; --direction value=higher if higher is better)" in out
    assert "REGRESSION at run 26 of 40" in out
    code, out, _ = _regress(capsys, "--history", str(path), "--json")
    assert json.loads(out)["value"]["direction_from"] == "assumed"


@pytest.mark.parametrize("argv, message", [
    (["--direction", "nosuch=higher"], "--direction nosuch=higher: {path} has no column 'nosuch'; its metric "
                                       "columns are ['throughput_per_s', 'latency_p95_ms', 'build_number']"),
    (["--direction", "higher", "--direction", "lower"], "--direction higher and --direction lower: one direction"),
    (["--direction", "throughput_per_s=higher", "--direction", "throughput_per_s=lower"],
     "--direction throughput_per_s=: given as higher and as lower"),
])
def test_bad_directions_exit_2_naming_the_value(capsys, argv, message):
    code, out, err = _regress(capsys, "--history", str(FELL_17), *argv)
    assert code == 2 and out == "" and message.format(path=FELL_17) in err


def test_a_direction_that_is_not_lower_or_higher_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["regress", "--history", str(FELL_17), "--direction", "throughput_per_s=up"])
    assert exc.value.code == 2
    assert "'throughput_per_s=up': expected lower, higher, or COLUMN=lower|higher" in capsys.readouterr().err


def test_a_direction_for_a_column_not_analysed_is_a_note(capsys):
    code, out, _ = _regress(capsys, "--history", str(FELL_17), "--metric", "latency_p95_ms", "--direction",
                            "throughput_per_s=higher")
    assert code == 0 and "note: --direction throughput_per_s=higher: column 'throughput_per_s' is not analysed" in out


# --- columns: --metric, --columns, skipped ones ----------------------------------------------------

def test_metric_must_name_a_column(capsys):
    code, out, err = _regress(capsys, "--history", str(FELL_17), "--metric", "nosuchcolumn")
    assert code == 2 and out == ""
    assert (f"error: {FELL_17}: --metric 'nosuchcolumn' is not a metric column of this file; its metric columns "
            "are ['build_number', 'throughput_per_s', 'latency_p95_ms']") in err


def test_metric_must_name_a_column_even_when_there_is_one_value_column(tmp_path, capsys):
    path = _write(tmp_path / "h.csv", "timestamp,value", [f"{t},{v}" for t, v in zip(_days(10), _stepped(10))])
    code, _, err = _regress(capsys, "--history", str(path), "--metric", "nosuchcolumn")
    assert code == 2 and "--metric 'nosuchcolumn' is not a metric column of this file; its metric columns are " \
                         "['value']" in err
    code, _, err = _regress(capsys, "--history", str(path), "--metric", "timestamp")
    assert code == 2 and "--metric 'timestamp' (the timestamp column) is not a metric column" in err


def test_columns_maps_the_time_and_commit_columns(tmp_path, capsys):
    values = _stepped(factor=0.8)
    path = _write(tmp_path / "h.csv", "finished_at,git_rev,ops_per_s",
                  [f"{t},r{i:02d},{v}" for i, (t, v) in enumerate(zip(_days(40), values))])
    code, out, err = _regress(capsys, "--history", str(path))
    assert code == 2 and "needs a timestamp column" in err and "--columns timestamp=NAME" in err
    code, out, _ = _regress(capsys, "--history", str(path), "--columns", "timestamp=finished_at,commit=git_rev",
                            "--fail-on", "regression")
    assert code == 1
    assert "40 rows, oldest first by 'finished_at', commits from 'git_rev'" in out
    assert "REGRESSION at run 26 of 40 (2026-01-26T06:00:00Z)" in out and "commits r24..r25" in out
    assert "higher is better (from its name: 'per_s')" in out


def test_columns_naming_a_missing_column_or_an_unknown_role_exits_2(tmp_path, capsys):
    code, _, err = _regress(capsys, "--history", str(FELL_17), "--columns", "timestamp=finished_at")
    assert code == 2 and (f"{FELL_17}: --columns timestamp=finished_at: no column 'finished_at'; its columns are "
                          "['timestamp', 'commit', 'build_number', 'throughput_per_s', 'latency_p95_ms']") in err
    code, _, err = _regress(capsys, "--history", str(FELL_17), "--columns", "timestamp=commit,commit=commit")
    assert code == 2 and "one column for two roles" in err
    with pytest.raises(SystemExit) as exc:
        cli.main(["regress", "--history", str(FELL_17), "--columns", "branch=ref"])
    assert exc.value.code == 2 and "unknown role 'branch'; roles are timestamp, commit" in capsys.readouterr().err


def test_id_like_and_text_columns_are_skipped_with_a_note(tmp_path, capsys):
    values = _stepped()
    rows = [f"{t},c{i},{7000 + 3 * i},{i + 1},ci-{i % 2},{v}" for i, (t, v) in enumerate(zip(_days(40), values))]
    path = _write(tmp_path / "h.csv", "timestamp,commit,build,pipeline_serial,host,latency_ms", rows)
    code, out, _ = _regress(capsys, "--history", str(path))
    assert code == 0
    assert "note: column 'build' skipped: an id or build number by its name, not a measurement" in out
    assert ("note: column 'pipeline_serial' skipped: integers that increase at every run (an id or a counter, "
            "not a measurement)") in out
    assert "note: column 'host' skipped: not numeric ('ci-0' at line 2)" in out
    assert "latency_ms: 40 runs" in out and "build:" not in out
    code, out, _ = _regress(capsys, "--history", str(path), "--metric", "build", "--json")  # named: analysed
    assert code == 0 and list(json.loads(out)) == ["build"]


def test_id_like_names():
    assert all(map(id_like_name, ["build", "build_number", "buildnum", "run_id", "job", "seq", "ci_run_number"]))
    assert not any(map(id_like_name, ["throughput_per_s", "latency_p95_ms", "value", "builder_rss_bytes_x"]))


def test_a_stray_value_in_a_numeric_column_exits_2_naming_the_line(tmp_path, capsys):
    rows = [f"{t},{v}" for t, v in zip(_days(10), _stepped(10))]
    rows[4] = rows[4].split(",")[0] + ",fast"
    path = _write(tmp_path / "h.csv", "timestamp,latency_ms,throughput_per_s",
                  [f"{r},{900 + i}.5" for i, r in enumerate(rows)])
    code, out, err = _regress(capsys, "--history", str(path))
    assert code == 2 and out == ""
    assert f"{path}: line 6, column 'latency_ms': 'fast' is not a number" in err


def test_non_positive_columns_are_skipped_unless_named(tmp_path, capsys):
    rows = [f"{t},0,{v}" for t, v in zip(_days(40), _stepped())]
    path = _write(tmp_path / "h.csv", "timestamp,error_rate_pct,latency_ms", rows)
    code, out, _ = _regress(capsys, "--history", str(path))
    assert code == 0 and ("note: column 'error_rate_pct' skipped: '0' at line 2: the detector needs positive "
                          "numbers") in out
    code, _, err = _regress(capsys, "--history", str(path), "--metric", "error_rate_pct")
    assert code == 2 and f"{path}: line 2, column 'error_rate_pct': '0' must be a positive number" in err
    path = _write(tmp_path / "none.csv", "timestamp,build_number,host", [f"{t},{i},h" for i, t in enumerate(_days(5))])
    code, _, err = _regress(capsys, "--history", str(path))
    assert code == 2 and "no metric column to analyse: 'build_number': an id or build number" in err
    assert "'host': not numeric ('h' at line 2)" in err


# --- time order ------------------------------------------------------------------------------------

def test_rows_out_of_time_order_are_sorted_with_a_warning(tmp_path, capsys):
    values = _stepped()
    rows = [f"{t},c{i:02d},{v}" for i, (t, v) in enumerate(zip(_days(40), values))]
    in_order = _write(tmp_path / "in.csv", "timestamp,commit,latency_ms", rows)
    shuffled = rows[:]
    shuffled[10], shuffled[30] = shuffled[30], shuffled[10]
    shuffled.append(shuffled.pop(0))
    mixed = _write(tmp_path / "mixed.csv", "timestamp,commit,latency_ms", shuffled)
    _, expected, _ = _regress(capsys, "--history", str(in_order), "--json")
    code, out, err = _regress(capsys, "--history", str(mixed), "--json")
    assert code == 0 and json.loads(out) == json.loads(expected)
    assert (f"warning: {mixed}: rows are not in time order (line 12, '2026-01-12T06:00:00Z', comes after line 11, "
            "'2026-02-03T06:00:00Z'); sorted oldest first by column 'timestamp' (40 of 40 rows moved)") in err
    _, text, _ = _regress(capsys, "--history", str(mixed))
    assert text.splitlines()[1].startswith(f"warning: {mixed}: rows are not in time order")
    assert "REGRESSION at run 26 of 40 (2026-01-26T06:00:00Z)" in text and "commits c24..c25" in text


@pytest.mark.parametrize("bad, message", [
    ("yesterday", "line 4, column 'timestamp': 'yesterday' is not a timestamp (expected ISO 8601"),
    ("", "line 4, column 'timestamp': empty; every row needs its time"),
    ("1767225600", "line 4, column 'timestamp': '1767225600' is a number but line 2 ('2026-01-01T06:00:00Z') is a "
                   "time with a UTC offset: one column, one form"),
    ("2026-01-03 06:00", "line 4, column 'timestamp': '2026-01-03 06:00' is a time without a UTC offset but line 2"),
])
def test_unparseable_timestamps_are_refused_naming_the_row(tmp_path, capsys, bad, message):
    rows = [f"{t},{v}" for t, v in zip(_days(10), _stepped(10))]
    rows[2] = f"{bad},{rows[2].split(',')[1]}"
    path = _write(tmp_path / "h.csv", "timestamp,latency_ms", rows)
    code, out, err = _regress(capsys, "--history", str(path))
    assert code == 2 and out == "" and f"{path}: {message}" in err


def test_a_mapped_timestamp_column_is_parsed_strictly_and_named(tmp_path, capsys):
    path = _write(tmp_path / "h.csv", "finished_at,latency_ms", ["soon,1", "2026-01-01,2"])
    code, _, err = _regress(capsys, "--history", str(path), "--columns", "timestamp=finished_at")
    assert code == 2 and "line 2, column 'finished_at' (--columns timestamp=finished_at): 'soon' is not a timestamp" \
                         in err


def test_run_labels_that_are_not_times_keep_the_file_order(tmp_path, capsys):
    path = _write(tmp_path / "h.csv", "run_id,latency_ms",
                  [f"nightly-{chr(97 + i % 26)}{i},{v}" for i, v in enumerate(_stepped())])
    code, out, _ = _regress(capsys, "--history", str(path))
    assert code == 0 and "40 rows, in file order ('run_id' holds labels, not times)" in out
    assert "REGRESSION at run 26 of 40 (nightly-z25)" in out
    table = load_history_csv(path)
    assert not table.ordered_by_time and table.warnings == ()


def test_a_header_with_a_byte_order_mark_or_a_column_twice(tmp_path, capsys):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbftimestamp,latency_ms\n2026-01-01,1\n2026-01-02,2\n")
    assert load_history_csv(path).time_column == "timestamp"
    path = _write(tmp_path / "twice.csv", "timestamp,latency_ms,latency_ms", ["2026-01-01,1,2"])
    code, _, err = _regress(capsys, "--history", str(path))
    assert code == 2 and f"{path}: column 'latency_ms' appears twice in the header" in err


def test_numbered_runs_are_ordered_by_number(tmp_path):
    path = _write(tmp_path / "h.csv", "run,latency_ms", ["3,30", "1,10", "2,20"])
    table = load_history_csv(path)
    assert table.ordered_by_time and table.histories[0].values == (10.0, 20.0, 30.0)
    assert table.histories[0].labels == ("1", "2", "3") and "rows are not in time order" in table.warnings[0]


def test_the_tigerbeetle_history_reads_as_text_transients_and_noise_included(capsys):
    """Apache Otava's real series: an unnamed ``value`` (assumed lower, said), a text column
    (skipped), a one-run drop that came back, level changes, a change of noise."""
    path = REPO / "tests" / "fixtures" / "regress" / "tigerbeetle.csv"
    code, out, _ = _regress(capsys, "--history", str(path), "--direction", "value=higher")
    assert code == 0
    assert f"{path}: 365 rows, oldest first by 'run', no commit column; method history" in out
    assert "note: column 'expected' skipped: not numeric" in out
    assert "value: 365 runs, 0 .. 364; higher is better (--direction value=higher)" in out
    assert "  transient at run 11 of 365 (10): 26,806 -> 15,672 (-41.5 %), then back (left out of every level)" in out
    assert "  REGRESSION at run 16 of 365 (15): 26,775 -> 23,533 (-12.1 %); found at 18" in out
    assert "  noise changed at run 350 of 365 (349): spread 1.0 % -> 2.4 %" in out
