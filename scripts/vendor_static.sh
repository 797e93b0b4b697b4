#!/usr/bin/env bash
# Install the front-end libraries from npm (package-lock.json pins them) and copy the files the pages use
# into static/vendor/. The pages never load anything from a CDN.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --silent --no-audit --no-fund
rm -rf static/vendor
mkdir -p static/vendor/swagger-ui
for f in swagger-ui.css swagger-ui-bundle.js swagger-ui-standalone-preset.js favicon-32x32.png; do
  cp "node_modules/swagger-ui-dist/$f" static/vendor/swagger-ui/
done
cp node_modules/swagger-ui-dist/LICENSE static/vendor/swagger-ui/LICENSE
