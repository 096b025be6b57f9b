"""Lineage graphs as text: Graphviz DOT, GraphML, JSON, Mermaid and a self-contained SVG."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # types only: the CLI reads FORMATS without loading the store
    from driftline.store.models import Edge, Model

FORMATS = ("dot", "graphml", "json", "mermaid", "svg")


def _label(m: Model) -> str:
    acc = m.metrics.get("accuracy", m.metrics.get("acc"))
    extra = f" acc={acc:.3f}" if isinstance(acc, int | float) else ""
    val = m.metrics.get("val_accuracy")
    if not extra and isinstance(val, int | float):
        extra = f" val acc={val:.3f}"
    return f"{m.ref}{extra}"


def to_dot(nodes: Sequence[Model], edges: Sequence[Edge], highlight: str | None = None) -> str:
    lines = ["digraph lineage {", "  rankdir=TB;", '  node [shape=box, fontname="Helvetica"];']
    for m in nodes:
        style = ", style=filled, fillcolor=lightblue" if m.id == highlight else ""
        lines.append(f'  "{m.id[:12]}" [label={json.dumps(_label(m))}{style}];')
    for e in edges:
        lines.append(f'  "{e.parent[:12]}" -> "{e.child[:12]}" [label="{e.kind}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(nodes: Sequence[Model], edges: Sequence[Edge], highlight: str | None = None) -> str:
    lines = ["graph TD"]
    for m in nodes:
        lines.append(f'  n{m.id[:12]}["{_label(m)}"]')
    for e in edges:
        lines.append(f"  n{e.parent[:12]} -->|{e.kind}| n{e.child[:12]}")
    if highlight:
        lines.append(f"  style n{highlight[:12]} fill:#bde0fe")
    return "\n".join(lines) + "\n"


def to_json(nodes: Sequence[Model], edges: Sequence[Edge]) -> str:
    return json.dumps(
        {"nodes": [m.to_dict() for m in nodes], "edges": [e.to_dict() for e in edges]}, indent=2
    )


def to_graphml(nodes: Sequence[Model], edges: Sequence[Edge]) -> str:
    from xml.sax.saxutils import escape, quoteattr  # loads urllib: kept off the CLI's startup

    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">',
        '  <key id="name" for="node" attr.name="name" attr.type="string"/>',
        '  <key id="version" for="node" attr.name="version" attr.type="int"/>',
        '  <key id="framework" for="node" attr.name="framework" attr.type="string"/>',
        '  <key id="metrics" for="node" attr.name="metrics" attr.type="string"/>',
        '  <key id="kind" for="edge" attr.name="kind" attr.type="string"/>',
        '  <key id="params" for="edge" attr.name="params" attr.type="string"/>',
        '  <graph id="lineage" edgedefault="directed">',
    ]
    for m in nodes:
        out += [
            f"    <node id={quoteattr(m.id)}>",
            f'      <data key="name">{escape(m.name)}</data>',
            f'      <data key="version">{m.version}</data>',
            f'      <data key="framework">{escape(m.framework)}</data>',
            f'      <data key="metrics">{escape(json.dumps(m.metrics))}</data>',
            "    </node>",
        ]
    for e in edges:
        out += [
            f"    <edge source={quoteattr(e.parent)} target={quoteattr(e.child)}>",
            f'      <data key="kind">{escape(e.kind)}</data>',
            f'      <data key="params">{escape(json.dumps(e.params))}</data>',
            "    </edge>",
        ]
    out += ["  </graph>", "</graphml>"]
    return "\n".join(out) + "\n"


def layers(nodes: Sequence[Model], edges: Sequence[Edge]) -> dict[str, int]:
    """Longest-path layer of each node (roots at 0), for drawing top to bottom."""
    ids = {m.id for m in nodes}
    parents: dict[str, list[str]] = {i: [] for i in ids}
    for e in edges:
        if e.parent in ids and e.child in ids:
            parents[e.child].append(e.parent)
    depth: dict[str, int] = {}

    def visit(n: str) -> int:
        if n not in depth:
            depth[n] = 0  # guards against malformed input; the store refuses cycles
            depth[n] = 1 + max((visit(p) for p in parents[n]), default=-1)
        return depth[n]

    for n in ids:
        visit(n)
    return depth


def to_svg(
    nodes: Sequence[Model],
    edges: Sequence[Edge],
    highlight: str | None = None,
    notes: dict[str, str] | None = None,
) -> str:
    """A layered drawing (roots on top) as standalone SVG markup."""
    depth = layers(nodes, edges)
    rows: dict[int, list[Model]] = {}
    for m in sorted(nodes, key=lambda m: (m.name, m.version)):
        rows.setdefault(depth[m.id], []).append(m)
    w, h, gx, gy = 170, 44, 30, 60
    width = max(len(r) for r in rows.values()) * (w + gx) + gx if rows else 200
    pos: dict[str, tuple[float, float]] = {}
    for d, row in rows.items():
        offset = (width - len(row) * (w + gx) + gx) / 2
        for i, m in enumerate(row):
            pos[m.id] = (offset + i * (w + gx), gy / 2 + d * (h + gy))
    height = (max(rows) + 1) * (h + gy) if rows else 100
    parts: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        'font-family="Helvetica,Arial,sans-serif" font-size="12">',
        '<defs><marker id="arr" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
    ]
    colours = {"repair": "#d62828", "route": "#7b2cbf", "prune": "#f77f00", "distill": "#2a9d8f"}
    for e in edges:
        if e.parent not in pos or e.child not in pos:
            continue
        (x1, y1), (x2, y2) = pos[e.parent], pos[e.child]
        c = colours.get(e.kind, "#555")
        parts.append(
            f'<line x1="{x1 + w / 2:.0f}" y1="{y1 + h:.0f}" x2="{x2 + w / 2:.0f}" y2="{y2:.0f}" '
            f'stroke="{c}" stroke-width="1.5" marker-end="url(#arr)"/>'
        )
        mx, my = (x1 + x2 + w) / 2, (y1 + h + y2) / 2
        parts.append(f'<text x="{mx:.0f}" y="{my:.0f}" fill="{c}" font-size="10">{e.kind}</text>')
    for m in nodes:
        x, y = pos[m.id]
        fill = "#bde0fe" if m.id == highlight else "#f8f9fa"
        parts.append(
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{w}" height="{h}" rx="6" fill="{fill}" '
            'stroke="#333"/>'
        )
        parts.append(
            f'<text x="{x + 8:.0f}" y="{y + 17:.0f}" font-weight="bold">{html.escape(m.ref)}</text>'
        )
        note = (notes or {}).get(m.id) or _label(m)[len(m.ref) :].strip()
        parts.append(f'<text x="{x + 8:.0f}" y="{y + 34:.0f}">{html.escape(note)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def render(
    fmt: str, nodes: Sequence[Model], edges: Sequence[Edge], highlight: str | None = None
) -> str:
    """Render in one of :data:`FORMATS`."""
    funcs: dict[str, Any] = {
        "dot": lambda: to_dot(nodes, edges, highlight),
        "graphml": lambda: to_graphml(nodes, edges),
        "json": lambda: to_json(nodes, edges),
        "mermaid": lambda: to_mermaid(nodes, edges, highlight),
        "svg": lambda: to_svg(nodes, edges, highlight),
    }
    return funcs[fmt]()
