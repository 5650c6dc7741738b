#!/usr/bin/env bash
# Browser test of the built site (run docs/build.sh first): serves _site/ on a free local port and
# checks every page in headless Chromium (/usr/bin/chromium, Debian package `chromium`), then shows
# that the checker catches a broken site. Screenshots: _site/_screens/.
# Env: PYTHON (default .venv/bin/python), SITE_DIR (default _site).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
export SITE_DIR="${SITE_DIR:-$ROOT/_site}"
if [ ! -f "$SITE_DIR/index.html" ]; then
    echo "[docs] $SITE_DIR is not built; run docs/build.sh first" >&2; exit 1
fi
if [ ! -x /usr/bin/chromium ]; then
    echo "[docs] /usr/bin/chromium missing: apt-get install -y chromium" >&2; exit 1
fi
start=$(date +%s)
MMSOLD_BROWSER_TESTS=1 "$PY" -m pytest tests/browser -q -p no:cacheprovider "$@"
echo "[docs] browser test passed in $(( $(date +%s) - start )) s; screenshots in $SITE_DIR/_screens/"
