/* driftline dashboard: hash-routed views over the REST API (or over preloaded data in a
   static report). Charts: Vega-Lite specs built by the server; graph: Cytoscape + dagre. */
(function () {
  "use strict";
  const PRE = window.DRIFTLINE_PRELOAD || null;
  const view = document.getElementById("view");
  const status = document.getElementById("status");
  const params = new URLSearchParams(location.search);
  if (params.get("token")) {
    sessionStorage.setItem("driftline-token", params.get("token"));
    history.replaceState(null, "", location.pathname + location.hash);
  }
  let token = sessionStorage.getItem("driftline-token") || "";
  if (window.cytoscape && window.cytoscapeDagre) cytoscape.use(cytoscapeDagre);

  const esc = (s) => String(s == null ? "" : s).replace(/[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const fmt = (v) => typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : esc(v);
  const when = (t) => t ? new Date(t * 1000).toLocaleString() : "";
  const el = (html) => { const d = document.createElement("div"); d.innerHTML = html; return d.firstElementChild; };

  async function api(path, opts) {
    if (PRE) {
      if (path in PRE) return PRE[path];
      throw new Error("this static report does not include " + path);
    }
    const headers = { "content-type": "application/json" };
    if (token) headers.authorization = "Bearer " + token;
    const r = await fetch(path, Object.assign({}, opts || {}, { headers }));
    if (r.status === 401 || r.status === 403) {
      const t = prompt("This needs a driftline token (driftline token create --role write):", "");
      if (t) { token = t; sessionStorage.setItem("driftline-token", t); return api(path, opts); }
    }
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.detail ? JSON.stringify(body.detail) : r.statusText);
    return body;
  }
  const post = (path, body) => api(path, { method: "POST", body: JSON.stringify(body || {}) });

  function chart(target, spec) {
    return vegaEmbed(target, spec, { actions: false, renderer: "svg" });
  }
  function table(header, rows) {
    return "<table><tr>" + header.map((h) => "<th>" + esc(h) + "</th>").join("") + "</tr>" +
      rows.map((r) => "<tr>" + r.map((c) => "<td>" + c + "</td>").join("") + "</tr>").join("") + "</table>";
  }
  const kv = (obj) => table(["key", "value"], Object.entries(obj || {}).map(([k, v]) =>
    [esc(k), typeof v === "object" ? esc(JSON.stringify(v)) : fmt(v)]));

  // ---------------------------------------------------------------- lineage graph
  const EDGE_COLORS = { finetune: "#457b9d", repair: "#7b2cbf", route: "#2a9d8f", prune: "#f4a261",
    merge: "#e76f51", distill: "#8d99ae" };
  async function lineage() {
    const g = await api("/v1/lineage/graph");
    view.innerHTML = '<h1>Lineage</h1><p class="muted">Click a model to see its parameters, ' +
      'metrics, signature and edges. Deployed models have a thick border.</p>' +
      '<div class="row"><div style="flex:1;min-width:480px"><div id="cy"></div></div>' +
      '<div id="details" class="card">Select a model.</div></div>';
    const elements = g.nodes.map((n) => ({ data: { id: n.id, label: n.ref + (n.deployments.length ?
      "\n▶ " + n.deployments.join(", ") : ""), deployed: n.deployments.length > 0, kind: n.kind } }))
      .concat(g.edges.map((e) => ({ data: { id: e.source + ">" + e.target, source: e.source,
        target: e.target, kind: e.kind, color: EDGE_COLORS[e.kind] || "#8d99ae" } })));
    const cy = cytoscape({
      container: document.getElementById("cy"), elements, wheelSensitivity: 0.3,
      style: [
        { selector: "node", style: { shape: "round-rectangle", "background-color": "#fff",
          "border-width": 1.5, "border-color": "#457b9d", label: "data(label)", "text-wrap": "wrap",
          "text-valign": "center", "font-size": 11, width: "label", height: "label", padding: "8px" } },
        { selector: "node[kind = 'routed']", style: { shape: "hexagon", "border-color": "#2a9d8f" } },
        { selector: "node[?deployed]", style: { "border-width": 4, "border-color": "#e63946",
          "background-color": "#fff5f5" } },
        { selector: "node:selected", style: { "background-color": "#e9c46a" } },
        { selector: "edge", style: { width: 1.6, "curve-style": "bezier", "target-arrow-shape": "triangle",
          "line-color": "data(color)", "target-arrow-color": "data(color)", label: "data(kind)",
          "font-size": 9, color: "#555", "text-background-color": "#fff", "text-background-opacity": 0.85,
          "text-rotation": "autorotate" } },
      ],
      layout: { name: "dagre", rankDir: "TB", nodeSep: 40, rankSep: 70, edgeSep: 15 },
    });
    window.driftlineCy = cy;
    cy.on("tap", "node", async (evt) => {
      const box = document.getElementById("details");
      box.innerHTML = "loading…";
      try { box.innerHTML = modelDetails(await api("/v1/models/" + evt.target.id())); }
      catch (err) { box.innerHTML = '<span class="error">' + esc(err.message) + "</span>"; }
    });
  }
  function modelDetails(m) {
    const edges = (list, key) => list.length ? table(["kind", "model", "params"], list.map((e) =>
      [esc(e.kind), esc(e[key]), esc(JSON.stringify(e.params)).slice(0, 160)])) : '<p class="muted">none</p>';
    const sig = m.signature ? "<h2>Training signature</h2><p>" + fmt(m.signature.n_rows) + " rows, " +
      fmt(m.signature.n_features) + " features</p>" + table(["feature", "mean", "min", "max"],
        Object.entries(m.signature.features).map(([k, v]) => [esc(k), fmt(v.mean), fmt(v.min), fmt(v.max)]))
      : '<p class="muted">no training signature</p>';
    return '<h1 class="model-title">' + esc(m.ref) + "</h1>" +
      (m.deployments.length ? "<p>serves " + m.deployments.map((d) =>
        '<a href="#/deployment/' + esc(d) + '">' + esc(d) + "</a>").join(", ") + "</p>" : "") +
      kv({ id: m.id, kind: m.kind, framework: m.framework, created: when(m.created_at) }) +
      "<h2>Metrics</h2>" + kv(m.metrics) +
      "<h2>Parameters</h2>" + table(["tensor", "dtype", "shape"], m.tensors.slice(0, 30).map((t) =>
        [esc(t.name), esc(t.dtype), esc(t.shape.join("×"))])) +
      "<h2>Parents</h2>" + edges(m.parents, "source_ref") + "<h2>Children</h2>" + edges(m.children, "target_ref") + sig;
  }

  // ---------------------------------------------------------------- deployments
  async function deployments() {
    const ds = await api("/v1/deployments");
    view.innerHTML = "<h1>Deployments</h1>" + table(["deployment", "model", "kind", "since"], ds.map((d) =>
      ['<a href="#/deployment/' + esc(d.name) + '">' + esc(d.name) + "</a>", esc(d.model_ref), esc(d.kind), when(d.updated_at)]));
  }
  async function deployment(name) {
    const t = await api("/v1/deployments/" + encodeURIComponent(name) + "/timeline");
    view.innerHTML = "<h1>deployment:" + esc(name) + '</h1><div class="card" id="tl-drift"></div>' +
      '<div class="card" id="tl-perf"></div><h2>Windows</h2>' +
      table(["report", "time", "rows", "verdict", "max PSI"], t.windows.map((w) => [
        '<a href="#/report/' + w.id + '">#' + w.id + "</a>", when(w.at), fmt(w.n_rows),
        w.drift ? '<span class="pill drift">drift</span>' : '<span class="pill ok">ok</span>', fmt(w.score)])) +
      "<h2>Events</h2>" + table(["time", "action", "model", "reason"], t.events.map((e) =>
        [when(e.at), esc(e.action), esc(e.model_ref), esc(e.reason)]));
    await chart("#tl-drift", t.charts.drift);
    if (t.performance.length) await chart("#tl-perf", t.charts.performance);
    else document.getElementById("tl-perf").innerHTML = '<p class="muted">No traffic served ' +
      "by driftline serve yet: estimated and realised accuracy appear once it predicts (and gets feedback).</p>";
  }

  // ---------------------------------------------------------------- drift reports
  async function reports() {
    const rs = await api("/v1/drift-reports");
    view.innerHTML = "<h1>Drift reports</h1>" + table(["report", "time", "deployment", "rows", "verdict", "features drifting", "max PSI", "window kept"],
      rs.slice().reverse().map((r) => ['<a href="#/report/' + r.id + '" data-window="' + (r.has_window ? 1 : 0) + '">#' + r.id + "</a>", when(r.created_at),
        esc(r.deployment || ""), fmt(r.n_rows), r.drift ? '<span class="pill drift">drift</span>' : '<span class="pill ok">ok</span>',
        fmt(r.n_drifted) + "/" + fmt(r.n_features), fmt(r.score), r.has_window ? "yes" : "no"]));
  }
  async function report(id) {
    const r = await api("/v1/drift-reports/" + id);
    const shown = r.features.slice(0, 6);
    view.innerHTML = "<h1>Drift report #" + r.id + " · " + esc(r.model_ref) +
      (r.deployment ? " · deployment:" + esc(r.deployment) : "") + "</h1>" +
      "<p>" + (r.drift ? '<span class="pill drift">drift</span>' : '<span class="pill ok">no drift</span>') +
      " " + fmt(r.n_drifted) + " of " + fmt(r.n_features) + " features drifted (" + fmt(r.required) +
      " required), " + fmt(r.n_rows) + " rows, " + when(r.created_at) + "</p>" +
      (r.has_window ? "" : '<p class="muted">This report was saved without its window summary: plots show the reference only.</p>') +
      '<h2>Distributions (most drifted first)</h2><p>feature: <select id="feat">' +
      r.features.map((f, i) => '<option value="' + i + '">' + esc(f.name) + (f.fired.length ? " ⚠" : "") + "</option>").join("") +
      '</select></p><div class="grid" id="dists"></div><h2>All features</h2><div class="card" id="bars"></div>';
    const grid = document.getElementById("dists");
    const show = async (f) => {
      const d = el('<div class="dist" data-feature="' + esc(f.name) + '"></div>');
      grid.appendChild(d);
      await chart(d, f.chart);
      d.insertAdjacentHTML("beforeend", '<div class="muted">' + Object.entries(f.metrics)
        .filter(([, v]) => v != null).slice(0, 5).map(([k, v]) => esc(k) + " " + fmt(v)).join(" · ") + "</div>");
    };
    for (const f of shown) await show(f);
    document.getElementById("feat").addEventListener("change", async (e) => {
      grid.innerHTML = ""; await show(r.features[+e.target.value]);
    });
    await chart("#bars", r.chart);
  }

  // ---------------------------------------------------------------- repairs
  async function repairs() {
    const rs = await api("/v1/repairs");
    view.innerHTML = "<h1>Repairs</h1>" + table(["repair", "deployment", "status", "chosen", "α", "before", "after"],
      rs.slice().reverse().map((r) => ['<a href="#/repair/' + r.id + '">#' + r.id + "</a>", esc(r.deployment || ""),
        esc(r.status), esc(r.chosen || ""), fmt(r.alpha), fmt((r.before || {}).accuracy), fmt((r.after || {}).accuracy)]));
  }
  async function repair(id) {
    const r = await api("/v1/repairs/" + id);
    view.innerHTML = "<h1>Repair #" + r.id + " · " + esc(r.status) + "</h1><p>" + esc(r.message) + "</p>" +
      kv({ deployment: r.deployment, drifted: r.drifted_ref, ancestor: r.ancestor_ref, "healthy ancestor": r.healthy_ancestor,
        chosen: r.chosen, alpha: r.alpha, repaired: r.repaired_ref, "drift report": r.drift_report_id }) +
      (r.status === "awaiting-approval" && !PRE ? '<button id="approve">approve and deploy</button>' : "") +
      "<h2>Ancestor search</h2>" + table(["ancestor", "hops", "healthy", "drifted share", "mean PSI"],
        r.ancestors.map((a) => [esc(a.ref), fmt(a.hops), a.healthy ? "yes" : "no", fmt(a.drifted_share), fmt((a.drift || {}).psi)])) +
      '<div class="row"><div class="card" id="alpha"></div><div class="card" id="cands"></div></div>' +
      '<div class="card" id="ba"></div>';
    await chart("#alpha", r.charts.alpha);
    await chart("#cands", r.charts.candidates);
    await chart("#ba", r.charts.before_after);
    const b = document.getElementById("approve");
    if (b) b.onclick = async () => { await post("/v1/repairs/" + id + "/approve"); route(); };
  }

  // ---------------------------------------------------------------- labelling
  let keyHandler = null;
  async function labels() {
    let queue = await api("/v1/labels?status=pending&limit=500");
    let i = 0;
    view.innerHTML = '<h1>Labels · <span id="pending-count">' + queue.length + "</span> pending</h1>" +
      '<p class="muted">Keys: <kbd>0</kbd>–<kbd>9</kbd> answer with that class, <kbd>s</kbd> skip, ' +
      "<kbd>←</kbd>/<kbd>→</kbd> previous / next. Answers are saved at once.</p>" +
      '<div class="card" id="label-card"></div><p id="label-msg" class="muted"></p>';
    const card = document.getElementById("label-card");
    const msg = document.getElementById("label-msg");
    const classesOf = (q) => (q.predictions && q.predictions.classes) || [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    function render() {
      document.getElementById("pending-count").textContent = queue.length;
      if (!queue.length) { card.innerHTML = "Nothing to label. 🎉"; return; }
      i = Math.max(0, Math.min(i, queue.length - 1));
      const q = queue[i];
      const p = q.predictions || {};
      const members = (p.members || []).map((m) => [esc(m.ref) + " (" + esc(m.role) + ")", esc(m.label), fmt(m.confidence)]);
      card.innerHTML = '<div class="row"><div>' + (q.image ? '<img class="label-img" alt="point" src="' + q.image + '" width="128" height="128">'
        : table(["feature", "value"], q.features.slice(0, 40).map((v, k) => ["f" + k, fmt(v)]))) +
        '</div><div><p>request <b id="label-id">#' + q.id + "</b> (" + (i + 1) + " of " + queue.length + "), strategy " + esc(q.strategy) +
        ", score " + fmt(q.score) + "</p>" + (p.label != null ? "<p>model says <b>" + esc(p.label) + "</b> (" + fmt(p.confidence) + ")</p>" : "") +
        (members.length ? table(["model", "label", "confidence"], members) : "") +
        '<div class="keys">' + classesOf(q).map((c) => '<button data-label="' + esc(c) + '">' + esc(c) + "</button>").join("") +
        ' <button data-skip="1">skip (s)</button></div></div></div>';
      card.querySelectorAll("button[data-label]").forEach((b) => b.onclick = () => answer(b.dataset.label));
      card.querySelector("button[data-skip]").onclick = skip;
    }
    async function answer(value) {
      const q = queue[i];
      const classes = classesOf(q);
      const match = classes.find((c) => String(c) === String(value));
      if (match === undefined) return;
      try {
        await post("/v1/labels/" + q.id, { label: match, annotator: "dashboard" });
        queue.splice(i, 1);
        msg.textContent = "saved #" + q.id + " = " + match;
      } catch (err) { msg.textContent = err.message; }
      render();
    }
    async function skip() {
      const q = queue[i];
      try { await post("/v1/labels/" + q.id + "/skip"); queue.splice(i, 1); msg.textContent = "skipped #" + q.id; }
      catch (err) { msg.textContent = err.message; }
      render();
    }
    if (keyHandler) document.removeEventListener("keydown", keyHandler);
    keyHandler = (e) => {
      if (!location.hash.startsWith("#/labels") || e.target.tagName === "INPUT") return;
      if (/^[0-9]$/.test(e.key)) answer(e.key);
      else if (e.key === "s") skip();
      else if (e.key === "ArrowRight") { i++; render(); }
      else if (e.key === "ArrowLeft") { i--; render(); }
    };
    document.addEventListener("keydown", keyHandler);
    render();
  }

  // ---------------------------------------------------------------- story (the demo page)
  async function story() {
    const st = await api("/story");
    view.innerHTML = "<h1>" + esc(st.title) + "</h1>" + st.sections.map(([h, body]) =>
      '<section class="card"><h2>' + esc(h) + "</h2>" + body + "</section>").join("");
    for (const d of view.querySelectorAll(".vl[data-spec]")) await chart(d, JSON.parse(d.dataset.spec));
  }

  // ---------------------------------------------------------------- router
  const ROUTES = [
    [/^#\/lineage$/, lineage, "lineage"], [/^#\/deployments$/, deployments, "deployments"],
    [/^#\/deployment\/(.+)$/, deployment, "deployments"], [/^#\/reports$/, reports, "reports"],
    [/^#\/report\/(\d+)$/, report, "reports"], [/^#\/repairs$/, repairs, "repairs"],
    [/^#\/repair\/(\d+)$/, repair, "repairs"], [/^#\/labels$/, labels, "labels"],
    [/^#\/story$/, story, "story"],
  ];
  async function route() {
    const hash = location.hash || window.DRIFTLINE_START || "#/lineage";
    for (const [re, fn, nav] of ROUTES) {
      const m = hash.match(re);
      if (!m) continue;
      document.querySelectorAll("header nav a").forEach((a) => a.classList.toggle("active", a.dataset.nav === nav));
      status.textContent = "loading…";
      try { await fn(decodeURIComponent(m[1] || "")); status.textContent = PRE ? "static report" : "live"; }
      catch (err) { view.innerHTML = '<p class="error">' + esc(err.message) + "</p>"; status.textContent = ""; }
      document.body.dataset.ready = hash;
      return;
    }
    view.innerHTML = '<p class="error">unknown page ' + esc(hash) + "</p>";
  }
  if (PRE) document.querySelectorAll("header nav a").forEach((a) => {
    const probe = { story: "/story", lineage: "/v1/lineage/graph", deployments: "/v1/deployments", reports: "/v1/drift-reports",
      repairs: "/v1/repairs", labels: "/v1/labels?status=pending&limit=500" }[a.dataset.nav];
    if (!(probe in PRE)) a.style.display = "none";
  });
  else document.querySelector('header nav a[data-nav="story"]').style.display = "none";
  window.addEventListener("hashchange", route);
  route();
})();
