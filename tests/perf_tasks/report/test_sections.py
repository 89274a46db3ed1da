"""Kind-supplied report sections (``report_extras`` -> ``render_report(sections=...)``)."""
from __future__ import annotations

import pytest

from perf_tasks.report.html import render_report, render_section
from perf_tasks.results import Evaluation, RunResults

RESULTS = RunResults(dag_id="perf_stress", run_id="r1", profile="smoke", started_at="t", fingerprint={}, suites=())
EVAL = Evaluation(run_id="r1", verdicts=(), violations=())


def test_a_kind_adds_sections_with_html_and_tables_without_editing_the_renderer():
    html = render_report(RESULTS, EVAL, None, sections=[
        {"title": "Stress: degradation", "html": "<svg role='img'><title>bars</title></svg>", "id": "stress"},
        {"title": "Scalability", "text": "USL fit <ok>", "table": [{"workers": 1, "rate_per_s": 100.0},
                                                                    {"workers": 2, "rate_per_s": 181.25}]},
        {"title": "Raw", "table": [["a", 1], ["b", None]], "headers": ["name", "n"], "open": False},
    ])
    assert "<section class='extra' id='stress'><h2>Stress: degradation</h2><svg role='img'>" in html
    assert "<th>workers</th><th>rate_per_s</th>" in html and '<td class="num">181.2</td>' in html
    assert "USL fit &lt;ok&gt;" in html and "<details><summary>details</summary><table><tr><th>name</th>" in html
    assert html.index("Stress: degradation") < html.index("Comparison with the baseline")


@pytest.mark.parametrize("section, needle", [
    ({"html": "x"}, "'title' must be a non-empty string"),
    ({"title": "T"}, "needs 'html', 'table' or 'text'"),
    ({"title": "T", "html": "x", "colour": 1}, "unknown key(s) ['colour']"),
    ({"title": "T", "table": "rows"}, "'table' must be a list of rows"),
    ({"title": "T", "table": [1]}, "table row 0 must be a list or a dict"),
    ("text", "expected a dict"),
])
def test_a_malformed_section_is_refused_naming_the_bad_key(section, needle):
    with pytest.raises(ValueError, match=__import__("re").escape(needle)):
        render_section(section, index=3)  # type: ignore[arg-type]
