"""Small HTML pieces every page shares (the run report, the load section, the history site): table
rows and tables, the sparkline, the one Jinja2 environment of ``templates/``. Pure string building
(the Jinja2 import waits for the first page)."""
from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).with_name("templates")


def environment() -> Any:
    """The Jinja2 environment of the report and site templates (autoescaped, strict)."""
    import jinja2  # noqa: PLC0415

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=False)


def row_html(cells: list[str], cls: list[str] | None = None) -> str:
    cls = cls or [""] * len(cells)
    return "<tr>" + "".join(f'<td class="{c}">{v}</td>' if c else f"<td>{v}</td>" for v, c in zip(cells, cls)) + "</tr>"


def table_html(headers: list[str], rows: list[str]) -> str:
    return "<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr>" + "".join(rows) + "</table>"


def sparkline(values: list[float], marks: list[int], *, width: int = 320, height: int = 60) -> str:
    """An inline SVG line chart of a series; ``marks`` are indexes of level changes (red lines)."""
    if len(values) < 2:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    def xy(i: int, v: float) -> tuple[float, float]:
        return 4 + i * (width - 8) / (len(values) - 1), height - 4 - (v - lo) / span * (height - 8)
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, v in enumerate(values)))
    lines = "".join(f'<line x1="{xy(i, lo)[0]:.1f}" x2="{xy(i, lo)[0]:.1f}" y1="0" y2="{height}" stroke="#b00020" '
                    f'stroke-dasharray="3,2"/>' for i in marks if 0 <= i < len(values))
    return (f'<svg width="{width}" height="{height}" role="img"><rect width="100%" height="100%" fill="#fafafa"/>'
            f'{lines}<polyline fill="none" stroke="#1a5fb4" stroke-width="1.5" points="{pts}"/></svg>')
