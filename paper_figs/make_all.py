"""Run every figure/table script in paper_figs/ (each accepts --fast) and print their run times.

    python paper_figs/make_all.py          # full settings: rewrites the committed PNG/JSON/CSV files
    python paper_figs/make_all.py --fast   # smoke test used by `make test`; outputs go to paper_figs/_fast/
    python paper_figs/make_all.py --only fig2 fig9   # a subset, by file-name prefix

Scripts run in separate processes, one after another; a failing script fails the whole run after the
others have run, naming it.
"""
import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


# scripts whose outputs others read run first (fig6 writes the digit bandwidths that fig3/5/10 use;
# results_table writes the 2D settings that fig2 reuses)
FIRST = ("fig6_", "results_table")


def scripts():
    found = sorted(p for p in HERE.glob("*.py") if p.name != Path(__file__).name and not p.name.startswith("_"))
    return sorted(found, key=lambda p: (not p.name.startswith(FIRST), p.name))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fast", action="store_true", help="small settings; write to paper_figs/_fast/")
    ap.add_argument("--only", nargs="*", default=None, metavar="PREFIX", help="run only scripts whose name starts so")
    args = ap.parse_args(argv)
    todo = [p for p in scripts() if not args.only or any(p.name.startswith(o) for o in args.only)]
    env = dict(os.environ, MPLBACKEND="Agg")
    failed, rows = [], []
    for p in todo:
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, str(p)] + (["--fast"] if args.fast else []), env=env, cwd=HERE.parent,
                           capture_output=True, text=True)
        dt = time.perf_counter() - t0
        rows.append((p.name, dt, r.returncode))
        tail = (r.stdout + r.stderr).strip().splitlines()[-3:]
        print(f"[figures] {p.name}: {'ok' if r.returncode == 0 else 'FAILED'} in {dt:.1f} s" +
              ("" if r.returncode == 0 else "\n" + (r.stdout + r.stderr)[-3000:]), flush=True)
        if r.returncode == 0 and not args.fast:
            print("    " + "\n    ".join(tail))
        if r.returncode != 0:
            failed.append(p.name)
    print(f"[figures] {len(rows)} scripts, {sum(r[1] for r in rows):.1f} s in all")
    if failed:
        print(f"[figures] failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
