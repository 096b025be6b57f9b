"""A self-contained HTML report (inline SVG charts, no scripts, no network)."""

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
    """Lines (one per series) over a shared x axis, as SVG markup."""
    pad_l, pad_r, pad_t, pad_b = 50, 130, 28, 40
    n = max((len(v) for v in series.values()), default=0)
    xs = list(x) if x is not None else list(range(n))
    vals = [float(v) for s in series.values() for v in s if v == v]
    vals += list((hlines or {}).values())
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    if hi - lo < 1e-12:
        hi = lo + 1.0
    lo, hi = lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)
    x_lo, x_hi = (min(xs), max(xs)) if xs else (0, 1)
    if x_hi == x_lo:
        x_hi = x_lo + 1

    def px(v: float) -> float:
        return pad_l + (v - x_lo) / (x_hi - x_lo) * (width - pad_l - pad_r)

    def py(v: float) -> float:
        return pad_t + (hi - v) / (hi - lo) * (height - pad_t - pad_b)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="11" font-family="Helvetica,Arial,sans-serif">'
    ]
    out.append(
        f'<text x="{pad_l}" y="16" font-weight="bold" font-size="13">{html.escape(title)}</text>'
    )
    out.append(
        f'<line x1="{pad_l}" y1="{height - pad_b}" x2="{width - pad_r}" y2="{height - pad_b}" stroke="#999"/>'
    )
    out.append(
        f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{height - pad_b}" stroke="#999"/>'
    )
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        out.append(
            f'<text x="{pad_l - 6}" y="{py(v) + 4:.1f}" text-anchor="end" fill="#555">{v:.2f}</text>'
        )
        out.append(
            f'<line x1="{pad_l}" y1="{py(v):.1f}" x2="{width - pad_r}" y2="{py(v):.1f}" stroke="#eee"/>'
        )
    ticks = xs if len(xs) <= 8 else [x_lo + (x_hi - x_lo) * k / 4 for k in range(5)]
    for xv in ticks:
        out.append(
            f'<text x="{px(xv):.1f}" y="{height - pad_b + 14}" text-anchor="middle" fill="#555">{xv:g}</text>'
        )
    out.append(
        f'<text x="{(pad_l + width - pad_r) / 2:.0f}" y="{height - 6}" text-anchor="middle">{html.escape(x_label)}</text>'
    )
    out.append(
        f'<text x="12" y="{(pad_t + height - pad_b) / 2:.0f}" transform="rotate(-90 12 {(pad_t + height - pad_b) / 2:.0f})" text-anchor="middle">{html.escape(y_label)}</text>'
    )
    for name, hv in (hlines or {}).items():
        out.append(
            f'<line x1="{pad_l}" y1="{py(hv):.1f}" x2="{width - pad_r}" y2="{py(hv):.1f}" stroke="#aaa" stroke-dasharray="4 3"/>'
        )
        out.append(
            f'<text x="{width - pad_r + 4}" y="{py(hv) + 4:.1f}" fill="#777">{html.escape(name)}</text>'
        )
    for i, (name, ys) in enumerate(series.items()):
        c = PALETTE[i % len(PALETTE)]
        pts = [(px(xv), py(float(yv))) for xv, yv in zip(xs, ys, strict=False) if yv == yv]
        if not pts:
            continue
        path = " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
        out.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="{path}"/>')
        for a, b in pts:
            out.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="2.5" fill="{c}"/>')
        out.append(
            f'<rect x="{width - pad_r + 8}" y="{pad_t + 16 * i}" width="10" height="10" fill="{c}"/>'
        )
        out.append(
            f'<text x="{width - pad_r + 22}" y="{pad_t + 16 * i + 9}">{html.escape(name)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def bar_chart(
    values: Mapping[str, float],
    *,
    title: str = "",
    width: int = 640,
    bar_h: int = 22,
    lo: float = 0.0,
    hi: float = 1.0,
) -> str:
    """Horizontal bars with value labels, as SVG markup."""
    pad_l, pad_t = 230, 28
    height = pad_t + len(values) * (bar_h + 8) + 10
    span = width - pad_l - 60
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="12" font-family="Helvetica,Arial,sans-serif">'
    ]
    out.append(f'<text x="4" y="16" font-weight="bold" font-size="13">{html.escape(title)}</text>')
    for i, (name, v) in enumerate(values.items()):
        y = pad_t + i * (bar_h + 8)
        w = max(0.0, min(1.0, (v - lo) / (hi - lo))) * span
        out.append(
            f'<text x="{pad_l - 8}" y="{y + bar_h * 0.7:.0f}" text-anchor="end">{html.escape(name)}</text>'
        )
        out.append(
            f'<rect x="{pad_l}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{PALETTE[i % len(PALETTE)]}"/>'
        )
        out.append(f'<text x="{pad_l + w + 6:.1f}" y="{y + bar_h * 0.7:.0f}">{v:.3f}</text>')
    out.append("</svg>")
    return "\n".join(out)


def stacked_bars(
    rows: Sequence[tuple[str, Mapping[str, float]]],
    *,
    title: str = "",
    width: int = 640,
    bar_h: int = 18,
) -> str:
    """One horizontal 100% bar per row (e.g. the regime mix of each window)."""
    names: list[str] = []
    for _, parts in rows:
        names += [k for k in parts if k not in names]
    pad_l, pad_t = 90, 28
    height = pad_t + len(rows) * (bar_h + 6) + 24
    span = width - pad_l - 20
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="11" font-family="Helvetica,Arial,sans-serif">'
    ]
    out.append(f'<text x="4" y="16" font-weight="bold" font-size="13">{html.escape(title)}</text>')
    for i, (label, parts) in enumerate(rows):
        y = pad_t + i * (bar_h + 6)
        out.append(
            f'<text x="{pad_l - 6}" y="{y + bar_h * 0.75:.0f}" text-anchor="end">{html.escape(label)}</text>'
        )
        x = float(pad_l)
        for name in names:
            share = float(parts.get(name, 0.0))
            w = share * span
            c = PALETTE[names.index(name) % len(PALETTE)]
            out.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{c}"><title>{html.escape(name)} {share:.0%}</title></rect>'
            )
            if w > 34:
                out.append(
                    f'<text x="{x + 4:.1f}" y="{y + bar_h * 0.75:.0f}" fill="white">{share:.0%}</text>'
                )
            x += w
    ly = pad_t + len(rows) * (bar_h + 6) + 6
    lx = float(pad_l)
    for name in names:
        c = PALETTE[names.index(name) % len(PALETTE)]
        out.append(
            f'<rect x="{lx:.0f}" y="{ly}" width="10" height="10" fill="{c}"/><text x="{lx + 14:.0f}" y="{ly + 9}">{html.escape(name)}</text>'
        )
        lx += 14 + 7 * len(name) + 16
    out.append("</svg>")
    return "\n".join(out)


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
