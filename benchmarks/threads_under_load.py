"""Time the 2D checkerboard run with n_jobs = 1 and 2, on a quiet machine and with a CPU-burning background process.

Prints figures (no assertion). Each configuration runs in a fresh subprocess, so thread-pool
environment variables (e.g. OMP_WAIT_POLICY) take effect before the libraries load; the background
burner is started and stopped by this script, and killed at the latest after `--max-seconds`.

    python benchmarks/threads_under_load.py            # N = P = 2000, 300 steps
    python benchmarks/threads_under_load.py --fast     # N = P = 1000, 100 steps
    python benchmarks/threads_under_load.py --env OMP_WAIT_POLICY=active   # compare a thread-pool setting
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CHILD = r"""
import json, sys, time
import numpy as np
from mmsold.datasets import checkerboard
from mmsold.sampler import MMSOLD
n, steps, n_jobs, search = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
X = checkerboard(n, random_state=0)
m = MMSOLD(delta=0.05, sigma=0.05, n_steps=steps, n_neighbors=16, neighbor_search=search,
           search_params={"n_jobs": n_jobs}, random_state=0).fit(X)
MMSOLD(n_steps=2, n_neighbors=16, neighbor_search=search, search_params={"n_jobs": n_jobs}).fit(X).sample(n)  # compile
t0 = time.perf_counter(); Z = m.sample(n); t = time.perf_counter() - t0
print(json.dumps({"seconds": t, "checksum": float(np.abs(Z).sum())}))
"""

BURN = "import time\nt = time.time()\nwhile time.time() - t < float(__import__('sys').argv[1]):\n    pass\n"


def run_child(n, steps, n_jobs, search, env):
    out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(steps), str(n_jobs), search],
                         env=env, capture_output=True, text=True, timeout=600)
    if out.returncode:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="N = P = 1000, 100 steps")
    ap.add_argument("--search", default="grid", help="neighbour search (default: grid, the 2D 'auto')")
    ap.add_argument("--env", action="append", default=[], help="extra NAME=VALUE for the timed processes")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--max-seconds", type=float, default=300.0, help="upper bound on the burner's life")
    args = ap.parse_args(argv)
    n, steps = (1000, 100) if args.fast else (2000, 300)
    env = dict(os.environ)
    for kv in args.env:
        k, v = kv.split("=", 1)
        env[k] = v
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env.pop(k, None)  # the search's n_jobs decides
    print(f"checkerboard N = P = {n}, {steps} steps, search {args.search!r}, extra env {args.env or 'none'}")
    rows = []
    for load in ("quiet", "loaded"):
        burner = None
        if load == "loaded":
            burner = subprocess.Popen([sys.executable, "-c", BURN, str(args.max_seconds)])
            time.sleep(0.5)
        try:
            for n_jobs in (1, 2):
                for _ in range(args.repeats):
                    r = run_child(n, steps, n_jobs, args.search, env)
                    rows.append((load, n_jobs, r["seconds"], r["checksum"]))
                    print(f"  {load:6s} n_jobs={n_jobs}: {r['seconds']:7.2f} s   (checksum {r['checksum']:.10g})", flush=True)
        finally:
            if burner is not None:
                burner.kill()
                burner.wait()
    sums = {r[3] for r in rows}
    print("same samples for every configuration:", len(sums) == 1)


if __name__ == "__main__":
    main()
