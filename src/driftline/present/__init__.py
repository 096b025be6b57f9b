"""Views shared by the dashboard, ``driftline report`` and the demo page: JSON-able view data
(:mod:`.data`), Vega-Lite chart specs (:mod:`.charts`) and the HTML page (:mod:`.page`) whose
JavaScript (Vega, Vega-Lite, vega-embed, Cytoscape with the dagre layout) is vendored from npm
into ``present/static/vendor`` and shipped in the wheel."""
