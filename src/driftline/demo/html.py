"""The demo report's pieces: charts (Vega-Lite, via :mod:`driftline.present.charts`), tables
and a page; the report itself is written by :func:`driftline.present.report.write_static_report`."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

PALETTE = ("#1d3557", "#e63946", "#2a9d8f", "#f4a261", "#7b2cbf", "#457b9d", "#8d99ae")


def line_chart(
    series: Mapping[str, Sequence[float]],
    *,
    x: Sequence[float] | None = None,
    title: str = "",
    x_label: str = "",
    y_label: str = "",
    hlines: Mapping[str, float] | None = None,
    width: int = 640,
    height: int = 260,
) -> str:
    """Lines (one per series, each on its own axis) over a shared x axis: a Vega-Lite chart
    (:mod:`driftline.present.charts`; ``width``/``height``/``y_label`` kept for callers)."""
    from driftline.present import charts

    return charts.embed(
        charts.series_lines(
            series, x=x, title=title, x_label=x_label, y_label=y_label, hlines=hlines
        )
    )


def bar_chart(
    values: Mapping[str, float],
    *,
    title: str = "",
    width: int = 640,
    bar_h: int = 22,
    lo: float = 0.0,
    hi: float = 1.0,
) -> str:
    """Horizontal bars with value labels (a Vega-Lite chart)."""
    from driftline.present import charts

    return charts.embed(charts.value_bars(values, title=title, lo=lo, hi=hi))


def stacked_bars(
    rows: Sequence[tuple[str, Mapping[str, float]]],
    *,
    title: str = "",
    width: int = 640,
    bar_h: int = 18,
) -> str:
    """One horizontal 100% bar per row, e.g. the regime mix of each window (Vega-Lite)."""
    from driftline.present import charts

    return charts.embed(charts.stacked_shares(rows, title=title))


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An HTML table (cells escaped; floats to 4 significant digits)."""

    def cell(v: object) -> str:
        return html.escape(f"{v:.4g}" if isinstance(v, float) else str(v))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, sections: Sequence[tuple[str, str]]) -> str:
    """A whole HTML document: ``sections`` are (heading, inner HTML)."""
    css = (
        "body{font-family:Helvetica,Arial,sans-serif;max-width:980px;margin:2em auto;color:#222}"
        "h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ddd;padding:4px 8px;"
        "font-size:13px;text-align:right}th{background:#f4f4f4}td:first-child{text-align:left}"
        "p{line-height:1.45}"
    )
    body = "".join(f"<h2>{html.escape(h)}</h2>\n{inner}\n" for h, inner in sections)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{css}</style></head><body><h1>{html.escape(title)}</h1>\n{body}</body></html>\n"
    )
