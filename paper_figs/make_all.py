"""Run every figure/table script in paper_figs/ (each accepts --fast) and print their run times.

    python paper_figs/make_all.py          # full settings: rewrites the committed PNG/JSON/CSV files
    python paper_figs/make_all.py --fast   # smoke test used by `make test`; outputs go to paper_figs/_fast/
    python paper_figs/make_all.py --only fig2 fig9   # a subset, by file-name prefix
    python paper_figs/make_all.py --fast --jobs 2    # two scripts at a time (one BLAS thread each)

Scripts run in separate processes; a failing script fails the whole run after the others have run,
naming it. Scripts whose outputs others read (`FIRST`) run before the rest; with `--jobs N` up to N
scripts run at once, each with one BLAS/OpenMP thread unless the caller set the thread counts.
"""
import argparse
import concurrent.futures as cf
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


# scripts whose outputs others read run first (fig6 writes the digit bandwidths that fig3/5/10 use;
# results_table writes the 2D settings that fig2 reuses)
FIRST = ("fig6_", "results_table")
# with --jobs > 1, start the slowest --fast scripts first so that no long one is left to run alone
# at the end (order by the run times `make test` printed; a script not named here keeps its place)
SLOW_FIRST = ("fig10_paper_settings", "fashion_paired_seeds", "fig4_fashion", "fig7_fashion_heatmap",
              "fashion_ae_floor", "ddpm_convergence", "fig2_paper_settings", "fig9_paper_settings")


def scripts():
    found = sorted(p for p in HERE.glob("*.py") if p.name != Path(__file__).name and not p.name.startswith("_"))
    return sorted(found, key=lambda p: (not p.name.startswith(FIRST), p.name))


def _slow_rank(p):
    return next((i for i, s in enumerate(SLOW_FIRST) if p.stem == s), len(SLOW_FIRST))


def run_one(p, fast, env):
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, str(p)] + (["--fast"] if fast else []), env=env, cwd=HERE.parent,
                       capture_output=True, text=True)
    return p, time.perf_counter() - t0, r


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fast", action="store_true", help="small settings; write to paper_figs/_fast/")
    ap.add_argument("--only", nargs="*", default=None, metavar="PREFIX", help="run only scripts whose name starts so")
    ap.add_argument("--jobs", type=int, default=1, help="scripts run at once (default 1)")
    args = ap.parse_args(argv)
    todo = [p for p in scripts() if not args.only or any(p.name.startswith(o) for o in args.only)]
    env = dict(os.environ, MPLBACKEND="Agg")
    if args.jobs > 1:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
            env.setdefault(var, "1")
    first = [p for p in todo if p.name.startswith(FIRST)]
    rest = [p for p in todo if not p.name.startswith(FIRST)]
    if args.jobs > 1:
        rest.sort(key=_slow_rank)
    failed, rows = [], []
    t_start = time.perf_counter()
    with cf.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for wave in (first, rest):
            for p, dt, r in (f.result() for f in cf.as_completed([pool.submit(run_one, p, args.fast, env)
                                                                  for p in wave])):
                rows.append((p.name, dt, r.returncode))
                tail = (r.stdout + r.stderr).strip().splitlines()[-3:]
                print(f"[figures] {p.name}: {'ok' if r.returncode == 0 else 'FAILED'} in {dt:.1f} s" +
                      ("" if r.returncode == 0 else "\n" + (r.stdout + r.stderr)[-3000:]), flush=True)
                if r.returncode == 0 and not args.fast:
                    print("    " + "\n    ".join(tail))
                if r.returncode != 0:
                    failed.append(p.name)
    print(f"[figures] {len(rows)} scripts, {sum(r[1] for r in rows):.1f} s summed, "
          f"{time.perf_counter() - t_start:.1f} s wall with {args.jobs} job(s)")
    if failed:
        print(f"[figures] failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
