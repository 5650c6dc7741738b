#!/usr/bin/env bash
# Build the static documentation site into _site/ from the notebooks in nbs/.
#   docs/build.sh               # incremental: unchanged notebooks are not re-executed
#   DOCS_NO_CACHE=1 docs/build.sh   # re-execute every notebook
# Env: PYTHON (default .venv/bin/python), DOCS_JOBS (parallel notebook runs, default 2),
#      DOCS_CELL_TIMEOUT (seconds per cell, default 300), SITE_DIR (default _site).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
SITE="${SITE_DIR:-$ROOT/_site}"
SRC="$ROOT/docs/_build/src"
start=$(date +%s)

cache_flag=()
[ -n "${DOCS_NO_CACHE:-}" ] && cache_flag=(--no-cache)
"$PY" docs/prepare_site.py --src "$SRC" ${cache_flag[@]+"${cache_flag[@]}"}
t_exec=$(date +%s)

OUT="$ROOT/docs/_build/html"  # myst-nb writes its jupyter_execute/ next to the output folder
rm -rf "$OUT"
# -W --keep-going: every warning is reported and any warning fails the build (tolerated ones are
# listed with reasons in docs/conf.py); -E: fresh environment, since the source tree is regenerated.
"$PY" -m sphinx -b html -c docs -W --keep-going -E -q -j 1 \
    -d "$ROOT/docs/_build/doctrees" "$SRC" "$OUT"
rm -f "$OUT/.buildinfo"
touch "$OUT/.nojekyll"
rm -rf "$SITE"
mv "$OUT" "$SITE"
"$PY" docs/check_offline.py "$SITE"
end=$(date +%s)
echo "[docs] built $SITE: notebooks $((t_exec - start)) s, sphinx+checks $((end - t_exec)) s, total $((end - start)) s"
