#!/usr/bin/env bash
# Notebooks are the source: fail if exporting them would change mmsold/, or if any notebook is not
# clean (nbdev_clean would rewrite it). Works on a copy, so the working tree is never modified.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/.venv/bin"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cp -r "$top/settings.ini" "$top/setup.py" "$top/nbs" "$tmp/"
(cd "$tmp" && "$bin/nbdev_export" >/dev/null)
if ! diff -r -x __pycache__ "$top/mmsold" "$tmp/mmsold" >"$tmp/export.diff"; then
  echo "mmsold/ is not what nbdev_export makes of the notebooks (edit the notebook, export, commit both):"
  head -n 40 "$tmp/export.diff"; exit 1
fi
rm -rf "$tmp/nbs"; cp -r "$top/nbs" "$tmp/nbs"
(cd "$tmp" && "$bin/nbdev_clean" >/dev/null)
if ! diff -r "$top/nbs" "$tmp/nbs" >"$tmp/clean.diff"; then
  echo "notebooks are not clean (run .venv/bin/nbdev_clean and commit):"
  diff -rq "$top/nbs" "$tmp/nbs" | head -n 20; exit 1
fi
echo "check-nbs: mmsold/ matches the notebooks; notebooks are clean"
"$bin/python" "$top/tools/make_readme.py" --check
