"""The HTML page shared by the dashboard (scripts served from ``/static``) and the static
report (scripts, styles and the view data inlined: one offline file)."""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import Any

VENDOR = (
    "vega.min.js",
    "vega-lite.min.js",
    "vega-embed.min.js",
    "dagre.min.js",
    "cytoscape.min.js",
    "cytoscape-dagre.js",
)
_NAV = (
    ("story", "Story"),
    ("lineage", "Lineage"),
    ("deployments", "Deployments"),
    ("reports", "Drift reports"),
    ("repairs", "Repairs"),
    ("labels", "Labels"),
)


def static_file(name: str) -> str:
    return (resources.files("driftline.present") / "static" / name).read_text(encoding="utf-8")


def _shell(title: str, head: str, scripts: str, start: str) -> str:
    nav = "".join(f'<a href="#/{k}" data-nav="{k}">{v}</a>' for k, v in _NAV)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width"><title>{html.escape(title)}'
        f"</title>{head}</head><body><header><b>driftline</b><nav>{nav}</nav>"
        '<span id="status"></span></header><main id="view"></main>'
        f"<script>window.DRIFTLINE_START={json.dumps(start)};</script>{scripts}</body></html>"
    )


def dashboard_html(prefix: str = "/static") -> str:
    """The dashboard shell; the page fetches the REST API."""
    head = f'<link rel="stylesheet" href="{prefix}/dashboard.css">'
    scripts = "".join(f'<script src="{prefix}/vendor/{n}"></script>' for n in VENDOR)
    scripts += f'<script src="{prefix}/dashboard.js"></script>'
    return _shell("driftline dashboard", head, scripts, "#/lineage")


def _inline_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")


def static_html(title: str, preload: dict[str, Any], start: str) -> str:
    """One self-contained file: the same views, their data preloaded (keyed by API path)."""
    head = f"<style>{static_file('dashboard.css')}</style>"
    scripts = "".join(
        "<script>" + static_file("vendor/" + n).replace("</script", "<\\/script") + "</script>"
        for n in VENDOR
    )
    scripts += f"<script>window.DRIFTLINE_PRELOAD={_inline_json(preload)};</script>"
    scripts += f"<script>{static_file('dashboard.js')}</script>"
    return _shell(title, head, scripts, start)
