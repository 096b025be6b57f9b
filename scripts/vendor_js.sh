#!/usr/bin/env bash
# How the dashboard's JavaScript was obtained: the minified builds of these npm packages,
# copied (with their licenses) into src/driftline/present/static/vendor/, which the wheel ships.
# Re-run to update; nothing is fetched at run time (no CDN).
set -euo pipefail
cd "$(dirname "$0")/.."
out=src/driftline/present/static/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm init -y >/dev/null && npm install --no-audit --no-fund \
  vega@5.33.1 vega-lite@5.23.0 vega-embed@6.29.0 cytoscape@3.35.0 dagre@0.8.5 cytoscape-dagre@2.5.0)
nm=$tmp/node_modules
cp "$nm/vega/build/vega.min.js" "$nm/vega-lite/build/vega-lite.min.js" \
   "$nm/vega-embed/build/vega-embed.min.js" "$nm/cytoscape/dist/cytoscape.min.js" \
   "$nm/dagre/dist/dagre.min.js" "$nm/cytoscape-dagre/cytoscape-dagre.js" "$out/"
for p in vega vega-lite vega-embed cytoscape dagre cytoscape-dagre; do
  lic=$(ls "$nm/$p" | grep -i -m1 '^licen[sc]e' || true)
  if [ -n "$lic" ]; then cp "$nm/$p/$lic" "$out/LICENSE.$p"; fi
  echo "$p $(node -p "require('$nm/$p/package.json').version") $(node -p "require('$nm/$p/package.json').license")"
done > "$out/VERSIONS"
# the vega package ships no LICENSE file; it is BSD-3-Clause by the same authors as vega-lite
if [ ! -f "$out/LICENSE.vega" ]; then
  { echo "vega (npm package, BSD-3-Clause per its package.json); license text as vega-lite's:"; echo
    cat "$out/LICENSE.vega-lite"; } > "$out/LICENSE.vega"
fi
