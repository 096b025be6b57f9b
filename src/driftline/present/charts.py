"""Vega-Lite chart specs (plain dicts) for the views. Vega-Lite chooses nice axis ticks; every
non-negative metric keeps zero in its domain; each metric gets its own axis."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"  # an id only: nothing is fetched
WIDTH = 560
EVENT_COLORS = {"deploy": "#2a9d8f", "rollback": "#e76f51", "repair": "#7b2cbf"}


def _base(title: str, data: Sequence[Mapping[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "$schema": SCHEMA,
        "title": title,
        "width": WIDTH,
        "data": {"values": list(data)},
        **extra,
    }


def distribution(name: str, kind: str, bins: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Reference vs window shares per bin (numeric: step areas over bin ranges; categorical:
    grouped bars)."""
    color = {
        "field": "source",
        "type": "nominal",
        "title": None,
        "scale": {"domain": ["reference", "window"], "range": ["#457b9d", "#e63946"]},
    }
    y = {
        "field": "share",
        "type": "quantitative",
        "title": "share of rows",
        "scale": {"zero": True},
        "axis": {"format": ".0%"},
    }
    if kind == "numeric":
        return _base(
            f"{name}: reference vs window",
            bins,
            width=360,
            height=150,
            mark={"type": "rect", "opacity": 0.45, "stroke": None},
            encoding={
                "x": {
                    "field": "x0",
                    "type": "quantitative",
                    "title": name,
                    "scale": {"zero": False},
                },
                "x2": {"field": "x1"},
                "y": y,
                "y2": {"datum": 0},
                "color": color,
                "tooltip": [
                    {"field": "source"},
                    {"field": "x0", "format": ".3g"},
                    {"field": "x1", "format": ".3g"},
                    {"field": "share", "format": ".1%"},
                ],
            },
        )
    return _base(
        f"{name}: reference vs window",
        bins,
        width=360,
        height=150,
        mark="bar",
        encoding={
            "x": {"field": "category", "type": "nominal", "title": name},
            "xOffset": {"field": "source"},
            "y": y,
            "color": color,
        },
    )


def feature_bars(features: Sequence[Mapping[str, Any]], top: int = 30) -> dict[str, Any]:
    """PSI and KS per feature, each on its own axis (most drifted first)."""
    rows = [
        {"feature": f["name"], "metric": m, "value": f["metrics"].get(m), "drift": m in f["fired"]}
        for f in features[:top]
        for m in ("psi", "ks")
        if f["metrics"].get(m) is not None
    ]
    return _base(
        "drift per feature",
        rows,
        width=WIDTH // 2 - 20,
        height=max(120, 12 * top),
        mark="bar",
        encoding={
            "y": {"field": "feature", "type": "nominal", "sort": None, "title": None},
            "x": {"field": "value", "type": "quantitative", "scale": {"zero": True}, "title": None},
            "column": {"field": "metric", "type": "nominal", "title": None},
            "color": {
                "field": "drift",
                "type": "nominal",
                "title": "fired",
                "scale": {"domain": [False, True], "range": ["#8d99ae", "#e63946"]},
            },
        },
        resolve={"scale": {"x": "independent"}},
    )


TIME_AXIS = {"format": "%H:%M:%S", "labelAngle": -30}


def _event_rules(events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {
        "data": {"values": [{**e, "t": e["at"] * 1000} for e in events]},
        "mark": {"type": "rule", "strokeDash": [4, 3], "strokeWidth": 2},
        "encoding": {
            "x": {"field": "t", "type": "temporal"},
            "color": {
                "field": "action",
                "type": "nominal",
                "title": "event",
                "scale": {"domain": list(EVENT_COLORS), "range": list(EVENT_COLORS.values())},
            },
            "tooltip": [{"field": "action"}, {"field": "model_ref"}, {"field": "reason"}],
        },
    }


def timeline(
    windows: Sequence[Mapping[str, Any]],
    cells: Sequence[Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """Per window: the drift score (top) and PSI per feature (heat map), with deploy, repair
    and rollback events marked on the shared time axis."""
    w = [{**x, "t": x["at"] * 1000} for x in windows]
    c = [{**x, "t": x["at"] * 1000} for x in cells]
    score = {
        "layer": [
            {
                "data": {"values": w},
                "mark": {"type": "line", "point": True},
                "encoding": {
                    "x": {"field": "t", "type": "temporal", "title": "time", "axis": TIME_AXIS},
                    "y": {
                        "field": "score",
                        "type": "quantitative",
                        "title": "max PSI",
                        "scale": {"zero": True},
                    },
                    "tooltip": [
                        {"field": "id", "title": "report"},
                        {"field": "drift"},
                        {"field": "score", "format": ".3f"},
                    ],
                },
            },
            _event_rules(events),
        ],
        "width": WIDTH,
        "height": 140,
    }
    heat = {
        "data": {"values": c},
        "mark": "rect",
        "width": WIDTH,
        "height": 160,
        "encoding": {
            "x": {
                "field": "t",
                "type": "ordinal",
                "timeUnit": "yearmonthdatehoursminutesseconds",
                "title": "window",
                "axis": {"labels": False},
            },
            "y": {"field": "feature", "type": "nominal", "title": None},
            "color": {
                "field": "psi",
                "type": "quantitative",
                "title": "PSI",
                "scale": {"scheme": "orangered", "zero": True},
            },
            "tooltip": [
                {"field": "feature"},
                {"field": "psi", "format": ".3f"},
                {"field": "report_id"},
            ],
        },
    }
    return {"$schema": SCHEMA, "title": "drift per window", "vconcat": [score, heat]}


def performance(
    perf: Sequence[Mapping[str, Any]], events: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Estimated (label-free) and realised accuracy per served model over time."""
    rows = []
    for p in perf:
        for kind, key in (("estimated", "estimated_accuracy"), ("realised", "accuracy")):
            if p.get(key) is not None:
                rows.append(
                    {
                        "t": p["first_at"] * 1000,
                        "t2": p["last_at"] * 1000,
                        "model": p["model_ref"],
                        "kind": kind,
                        "accuracy": p[key],
                    }
                )
    return {
        "$schema": SCHEMA,
        "title": "accuracy per served model",
        "width": WIDTH,
        "height": 140,
        "layer": [
            {
                "data": {"values": rows},
                "mark": {"type": "point", "filled": True, "size": 80},
                "encoding": {
                    "x": {"field": "t", "type": "temporal", "title": "time", "axis": TIME_AXIS},
                    "y": {
                        "field": "accuracy",
                        "type": "quantitative",
                        "scale": {"domain": [0, 1]},
                        "axis": {"format": ".0%"},
                    },
                    "shape": {"field": "kind", "type": "nominal"},
                    "tooltip": [
                        {"field": "model"},
                        {"field": "kind"},
                        {"field": "accuracy", "format": ".3f"},
                    ],
                },
            },
            _event_rules(events),
        ],
    }


def alpha_curve(
    curve: Sequence[Mapping[str, Any]], chosen: float | None, objective: str | None
) -> dict[str, Any]:
    """The α search: objective at every evaluated α, the chosen α marked."""
    layers: list[dict[str, Any]] = [
        {
            "mark": {"type": "line", "point": True},
            "encoding": {
                "x": {
                    "field": "alpha",
                    "type": "quantitative",
                    "title": "α",
                    "scale": {"domain": [0, 1]},
                },
                "y": {
                    "field": "objective",
                    "type": "quantitative",
                    "title": objective or "objective",
                    "scale": {"zero": False},
                },
            },
        }
    ]
    if chosen is not None:
        layers.append(
            {
                "data": {"values": [{"alpha": chosen}]},
                "mark": {"type": "rule", "color": "#e63946", "strokeWidth": 2},
                "encoding": {"x": {"field": "alpha", "type": "quantitative"}},
            }
        )
    return _base("α search", sorted(curve, key=lambda p: p["alpha"]), height=180, layer=layers)


def candidates(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Validation accuracy of every candidate (drifted, interpolation, routing, ...)."""
    data = [r for r in rows if r.get("accuracy") is not None]
    return _base(
        "candidates on validation",
        data,
        height=30 * max(len(data), 1),
        mark="bar",
        encoding={
            "y": {"field": "candidate", "type": "nominal", "title": None},
            "x": {
                "field": "accuracy",
                "type": "quantitative",
                "scale": {"domain": [0, 1]},
                "axis": {"format": ".0%"},
            },
        },
    )


def before_after(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """Validation metrics before and after (row counts left out: another scale)."""
    rows = [
        {"metric": k, "when": w, "value": v}
        for w, d in (("before", before), ("after", after))
        for k, v in d.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k not in ("n", "rows")
    ]
    return _base(
        "before and after",
        rows,
        height=140,
        mark="bar",
        encoding={
            "x": {"field": "metric", "type": "nominal", "title": None},
            "xOffset": {"field": "when", "sort": ["before", "after"]},
            "y": {"field": "value", "type": "quantitative", "scale": {"zero": True}},
            "color": {"field": "when", "type": "nominal", "sort": ["before", "after"]},
        },
    )


# -- generic charts (the demo's story page) ----------------------------------------------------
def series_lines(
    series: Mapping[str, Sequence[float]],
    *,
    x: Sequence[float] | None = None,
    title: str = "",
    x_label: str = "",
    y_label: str = "",
    hlines: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """One panel per series, each with its own y axis (zero kept for non-negative series),
    sharing the x axis; ``hlines`` are reference lines, drawn in the panels whose series name
    shares a word with the line's label (all panels for a single series)."""
    panels = []
    for name, ys in series.items():
        xs = list(x) if x is not None else list(range(len(ys)))
        vals = [{"x": a, "y": b} for a, b in zip(xs, ys, strict=False) if b == b]
        lo = min((v["y"] for v in vals), default=0.0)
        layer: list[dict[str, Any]] = [
            {
                "data": {"values": vals},
                "mark": {"type": "line", "point": True},
                "encoding": {
                    "x": {
                        "field": "x",
                        "type": "quantitative",
                        "title": x_label,
                        "axis": _int_axis(xs),
                    },
                    "y": {
                        "field": "y",
                        "type": "quantitative",
                        "title": name if len(series) > 1 else (y_label or name),
                        "scale": {"zero": lo >= 0},
                    },
                    "tooltip": [{"field": "x"}, {"field": "y", "format": ".3f"}],
                },
            }
        ]
        for label, v in (hlines or {}).items():  # in the panels it belongs to
            if len(series) > 1 and not set(label.split()) & set(name.split()):
                continue
            layer.append(
                {
                    "data": {"values": [{"y": v, "label": label}]},
                    "mark": {"type": "rule", "strokeDash": [4, 3], "color": "#e63946"},
                    "encoding": {
                        "y": {"field": "y", "type": "quantitative"},
                        "tooltip": [{"field": "label"}],
                    },
                }
            )
        panels.append({"layer": layer, "width": WIDTH, "height": 110 if len(series) > 1 else 180})
    return {"$schema": SCHEMA, "title": title, "vconcat": panels}


def _int_axis(xs: Sequence[Any]) -> dict[str, Any]:
    """Whole-number ticks for counts (windows, labels); default ticks otherwise."""
    if xs and all(float(v).is_integer() for v in xs):
        return {"tickMinStep": 1, "format": "d"}
    return {}


def value_bars(
    values: Mapping[str, float], *, title: str = "", lo: float = 0.0, hi: float = 1.0
) -> dict[str, Any]:
    """Horizontal bars with value labels on a fixed [lo, hi] scale."""
    rows = [{"name": k, "value": v} for k, v in values.items()]
    bar = {
        "mark": "bar",
        "encoding": {
            "y": {"field": "name", "type": "nominal", "sort": None, "title": None},
            "x": {
                "field": "value",
                "type": "quantitative",
                "scale": {"domain": [lo, hi]},
                "title": None,
            },
        },
    }
    text = {
        "mark": {"type": "text", "align": "left", "dx": 4},
        "encoding": {
            "y": {"field": "name", "type": "nominal", "sort": None},
            "x": {"field": "value", "type": "quantitative"},
            "text": {"field": "value", "format": ".3f"},
        },
    }
    return _base(title, rows, height=26 * max(len(rows), 1), layer=[bar, text])


def stacked_shares(
    rows: Sequence[tuple[str, Mapping[str, float]]], *, title: str = ""
) -> dict[str, Any]:
    """One 100% bar per row (e.g. the regime mix of each window)."""
    data = [
        {"row": label, "part": k, "share": float(v), "order": i}
        for i, (label, parts) in enumerate(rows)
        for k, v in parts.items()
    ]
    return _base(
        title,
        data,
        height=20 * max(len(rows), 1),
        mark="bar",
        encoding={
            "y": {"field": "row", "type": "nominal", "sort": {"field": "order"}, "title": None},
            "x": {
                "field": "share",
                "type": "quantitative",
                "stack": "normalize",
                "axis": {"format": ".0%"},
                "title": None,
            },
            "color": {"field": "part", "type": "nominal", "title": None},
            "tooltip": [{"field": "row"}, {"field": "part"}, {"field": "share", "format": ".0%"}],
        },
    )


def embed(spec: Mapping[str, Any]) -> str:
    """A placeholder the page's script renders with vega-embed."""
    import html
    import json

    return f'<div class="vl" data-spec="{html.escape(json.dumps(spec), quote=True)}"></div>'
