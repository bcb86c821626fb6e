#!/usr/bin/env bash
# Refresh static/vendor/ from the npm registry: Leaflet and the folium plugins the map uses,
# and Swagger UI and ReDoc for the API's /docs and /redoc, with their licences. The result is
# committed, so the app and the API need no internet at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
out=static/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fetch() {  # fetch NAME@VERSION DEST
  (cd "$work" && npm pack --silent "$1" >/dev/null)
  local tgz
  tgz=$(ls -t "$work"/*.tgz | head -1)
  mkdir -p "$work/x" && rm -rf "$work/x/package" && tar xzf "$tgz" -C "$work/x" && rm "$tgz"
  mkdir -p "$out/$2"
}
mkdir -p "$out"
find "$out" -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
fetch leaflet@1.9.4 leaflet
cp -r "$work"/x/package/dist/{leaflet.js,leaflet.css,images} "$work"/x/package/LICENSE "$out/leaflet/"
fetch leaflet.markercluster@1.5.3 markercluster
cp "$work"/x/package/dist/{leaflet.markercluster.js,MarkerCluster.css,MarkerCluster.Default.css} \
   "$work"/x/package/MIT-LICENCE.txt "$out/markercluster/"
fetch leaflet.heat@0.2.0 heat
cp "$work"/x/package/dist/leaflet-heat.js "$work"/x/package/LICENSE "$out/heat/"
fetch leaflet.awesome-markers@2.0.5 awesome-markers
cp -r "$work"/x/package/dist/{leaflet.awesome-markers.js,leaflet.awesome-markers.css,images} \
   "$work"/x/package/LICENSE "$out/awesome-markers/"
fetch @fortawesome/fontawesome-free@6.2.0 fontawesome
mkdir -p "$out/fontawesome/css" "$out/fontawesome/webfonts"
cp "$work"/x/package/css/all.min.css "$out/fontawesome/css/"
cp "$work"/x/package/webfonts/*.woff2 "$work"/x/package/webfonts/*.ttf "$out/fontawesome/webfonts/"
cp "$work"/x/package/LICENSE.txt "$out/fontawesome/"
fetch swagger-ui-dist@5.35.0 swagger-ui
cp "$work"/x/package/{swagger-ui-bundle.js,swagger-ui.css,favicon-32x32.png,LICENSE,NOTICE} \
   "$work"/x/package/swagger-ui-bundle.js.LICENSE.txt "$out/swagger-ui/"
fetch redoc@2.5.4 redoc
cp "$work"/x/package/bundles/{redoc.standalone.js,redoc.standalone.js.LICENSE.txt} \
   "$work"/x/package/LICENSE "$out/redoc/"
# ReDoc shows Redocly's logo from their CDN beside "API docs by Redocly": an empty image
# instead (ReDoc then hides it), so that opening /redoc contacts no outside address
sed -i 's#https://cdn.redoc.ly/redoc/logo-mini.svg#data:,#' "$out/redoc/redoc.standalone.js"
if grep -q "cdn.redoc.ly" "$out/redoc/redoc.standalone.js"; then
  echo "error: redoc.standalone.js still loads from cdn.redoc.ly" >&2; exit 1
fi
echo "vendored into $out:"; du -sh "$out"/*
