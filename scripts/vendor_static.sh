#!/usr/bin/env bash
# Install the front-end libraries from npm (package-lock.json pins them) and copy the files the pages use
# into static/vendor/. The pages never load anything from a CDN.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --silent --no-audit --no-fund
rm -rf static/vendor
mkdir -p static/vendor/swagger-ui static/vendor/htmx static/vendor/leaflet/images static/vendor/chartjs
for f in swagger-ui.css swagger-ui-bundle.js swagger-ui-standalone-preset.js favicon-32x32.png; do
  cp "node_modules/swagger-ui-dist/$f" static/vendor/swagger-ui/
done
cp node_modules/swagger-ui-dist/LICENSE static/vendor/swagger-ui/LICENSE

cp node_modules/htmx.org/dist/htmx.min.js node_modules/htmx.org/LICENSE static/vendor/htmx/
# leaflet.css finds its marker and layer images in images/ next to it.
cp node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css node_modules/leaflet/LICENSE \
  static/vendor/leaflet/
cp node_modules/leaflet/dist/images/*.png static/vendor/leaflet/images/
cp node_modules/chart.js/dist/chart.umd.min.js node_modules/chart.js/LICENSE.md static/vendor/chartjs/
