"""Paper-scale speed of the paper's Algorithm 2 estimator (issue 13, "Speed"): prints figures, not a test.

    python benchmarks/paper_scale.py            # CelebA scale (d = 700) and d = 100; writes benchmarks/paper_scale.json
    python benchmarks/paper_scale.py --fast     # tiny version, seconds; writes nothing (unless --out)
    python benchmarks/paper_scale.py --threads 2   # the same with 2 BLAS threads, merged into paper_scale.json

Data: `mmsold.datasets.latent_manifold(N, d, intrinsic_dim=16)` (points near a 16-dim manifold plus noise 0.05),
partially whitened by `mmsold.whitening.PartialWhitening(k)` (k = 500 at d = 700, k = 20 at d = 100). Particles
start at random training points plus delta-noise and move by the plain Langevin loop
z <- z + h s(z) + sqrt(2 h) xi, h = 5e-4 (whitened units), with `NearestRemainderScore` (K = L = 50, M = 2
antithetic, delta = 0.05, sigma = 1). Every path is timed in the same process on the same data, start and seed:

- straightforward: `search="exact", remainder_draw="permutation"` (one float64 P x N product + argpartition per
  step, the remainder as the L smallest of N - K uniform keys per particle);
- exact + rejection: the same search, remainder by rejection;
- float32: float32 P x N product every step, certified float64 re-ranking of 2K candidates;
- reuse: float32 search plus certified reuse of the candidate lists across steps (refreshes counted), with the
  default c = 4K candidates screened through the int16 copy, and with c = 2K.

A path too slow for all T steps (at d = 700 all but the default reuse) runs `--steps-slow` steps and its per-step time
is extrapolated to T (said so in the output). Also measured: the time of one float32 and one float64 P x N
product (the BLAS floor of a full search), and the two eta draws (eps X_sel^T against Cholesky of sigma^2 G) on
one step's selected centres. Peak RSS is the process's `ru_maxrss` after each path (cumulative: the paths run
in order of increasing expected footprint).
"""
import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402

from mmsold.datasets import latent_manifold  # noqa: E402
from mmsold.score.nearest_remainder import NearestRemainderScore, draw_eta, select_centres  # noqa: E402
from mmsold.whitening import PartialWhitening  # noqa: E402

PATHS = {  # name -> estimator options
    "reuse": dict(search="reuse"),                               # c = 4K candidates (the default)
    "reuse c=2K": dict(search="reuse", candidate_factor=2.0),
    "float32": dict(search="float32"),
    "exact+rejection": dict(search="exact", remainder_draw="rejection"),
    "straightforward": dict(search="exact", remainder_draw="permutation"),
}


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_case(N, d, k, seed=0):
    X = latent_manifold(N, n_features=d, intrinsic_dim=16, random_state=seed)
    return PartialWhitening(n_components=k).fit_transform(X)


def run_path(X, P, T, opts, delta, sigma, h, seed, threads):
    "T Langevin steps from a fixed data start; seconds per step, refresh counts, final particles."
    est = NearestRemainderScore(X, delta, sigma, n_neighbors=50, n_remainder=50, n_noise=2, **opts)
    start = np.random.default_rng(seed)
    Z = X[start.choice(len(X), P, replace=False)] + delta * start.standard_normal((P, X.shape[1]))
    rng = np.random.default_rng(seed + 1)
    refreshed, times = [], []
    ctx = _blas_threads(threads)
    with ctx:
        for _ in range(T):
            t0 = time.perf_counter()
            s, _ = est(Z, rng)
            Z = Z + h * s + np.sqrt(2 * h) * rng.standard_normal(Z.shape)
            times.append(time.perf_counter() - t0)
            refreshed.append(int(est.n_refreshed_))
    return dict(step_s=times, refreshed=refreshed, n_float64=int(est.n_float64_)), Z


def _blas_threads(n):
    from threadpoolctl import threadpool_limits
    return threadpool_limits(limits=n, user_api="blas")


def floors(X, P, delta, sigma, seed, threads):
    "BLAS floor (one full P x N product, float32 and float64) and the two eta draws on one step's centres."
    rng = np.random.default_rng(seed)
    Z = X[rng.choice(len(X), P, replace=False)] + delta * rng.standard_normal((P, X.shape[1]))
    out = {}
    with _blas_threads(threads):
        for name, dt in (("float32", np.float32), ("float64", np.float64)):
            Xc, Zc = X.astype(dt), Z.astype(dt)
            best = np.inf
            for _ in range(2):
                t0 = time.perf_counter()
                for sl in range(0, P, 500):
                    Zc[sl:sl + 500] @ Xc.T
                best = min(best, time.perf_counter() - t0)
            out[f"product_{name}_s"] = best
        sel = select_centres(Z, X, (X**2).sum(1), 50, 50, rng)
        for method in ("eps", "cholesky"):
            t0 = time.perf_counter()
            for sl in range(0, P, 32):
                draw_eta(X[sel.idx[sl:sl + 32]], sigma, 1, rng, method)
            out[f"eta_{method}_s"] = time.perf_counter() - t0
    return out


def case(name, N, d, k, P, T, steps_slow, slow_paths, delta=0.05, sigma=1.0, h=5e-4, seed=0, threads=1, paths=PATHS):
    t0 = time.perf_counter()
    X = make_case(N, d, k, seed)
    res = dict(name=name, N=N, d=d, k=k, P=P, T=T, K=50, L=50, M=2, delta=delta, sigma=sigma, h=h, threads=threads,
               data=f"latent_manifold(N, d, intrinsic_dim=16) whitened by PartialWhitening(n_components={k})",
               data_s=time.perf_counter() - t0, load_before=os.getloadavg()[0], paths={})
    flops = 2.0 * P * N * d
    res["floor"] = floors(X, P, delta, sigma, seed, threads)
    res["floor"]["full_search_gflop"] = flops / 1e9
    print(f"\n== {name}: N={N} d={d} P={P} T={T} (data {res['data_s']:.1f} s, load {res['load_before']:.2f}) ==")
    print("  one P x N product: float32 {product_float32_s:.2f} s, float64 {product_float64_s:.2f} s; "
          "eta draws for one step: eps {eta_eps_s:.3f} s, cholesky {eta_cholesky_s:.3f} s".format(**res["floor"]))
    finals = {}
    for path, opts in paths.items():
        steps = steps_slow if path in slow_paths else T
        r, Zf = run_path(X, P, steps, opts, delta, sigma, h, seed, threads)
        per = float(np.median(r["step_s"][1:] if steps > 2 else r["step_s"]))
        mean = float(np.mean(r["step_s"]))
        r.update(steps_run=steps, extrapolated=steps < T, median_step_s=per, mean_step_s=mean,
                 run_s=mean * T, peak_rss_mb=peak_rss_mb(), load_after=os.getloadavg()[0])
        r["refresh_fraction"] = float(np.mean(r["refreshed"][1:]) / P) if steps > 1 else 1.0
        finals[path] = (steps, Zf)
        res["paths"][path] = r
        print(f"  {path:16s} {steps:3d} steps: {mean:6.3f} s/step (median {per:.3f}) -> {mean * T:7.1f} s per run"
              f"{' (extrapolated)' if steps < T else ''}; refreshed {100 * r['refresh_fraction']:.1f}%/step; "
              f"peak RSS {r['peak_rss_mb']:.0f} MB; load {r['load_after']:.2f}")
    base = res["paths"]["straightforward"]["run_s"] if "straightforward" in res["paths"] else np.nan
    for path, r in res["paths"].items():
        r["x_straightforward"] = r["run_s"] / base
    # same samples: paths that ran the same number of steps from the same start and seed
    for path, (steps, Zf) in finals.items():
        same = [q for q, (s2, _) in finals.items() if s2 == steps and q != path]
        if same:
            res["paths"][path]["max_abs_diff_vs_" + same[0]] = float(np.abs(Zf - finals[same[0]][1]).max())
    print("  ratios to straightforward: " + ", ".join(f"{p} {r['x_straightforward']:.3f}" for p, r in res["paths"].items()))
    return res


def table(results):
    lines = ["| case | path | steps timed | s/step | s per run (T = 100) | x straightforward | lists refreshed per step | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|"]
    for res in results:
        for p, r in res["paths"].items():
            lines.append(f"| {res['name']} | {p} | {r['steps_run']}{' (extrapolated)' if r['extrapolated'] else ''} | "
                         f"{r['mean_step_s']:.3f} | {r['run_s']:.1f} | {r['x_straightforward']:.3f} | "
                         f"{100 * r['refresh_fraction']:.1f}% | {r['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fast", action="store_true", help="tiny version (seconds)")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads for the products")
    ap.add_argument("--steps-slow", type=int, default=10, help="steps of the float64 paths at d = 700")
    ap.add_argument("--only", nargs="*", default=None, help="case names to run (celeba700, d100)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--paths", nargs="*", default=None, help=f"paths to run (default all: {list(PATHS)})")
    ap.add_argument("--tables", action="store_true", help="print the tables of benchmarks/paper_scale.json and exit")
    a = ap.parse_args(argv)
    if a.tables:
        for key, run in json.loads((HERE / "paper_scale.json").read_text())["runs"].items():
            results = run["results"] if isinstance(run["results"], list) else list(run["results"].values())
            print(f"\n{key}\n" + table(results))
            for res in results:
                f = res["floor"]
                print(f"{res['name']}: one P x N product float32 {f['product_float32_s']:.2f} s, float64 "
                      f"{f['product_float64_s']:.2f} s ({f['full_search_gflop']:.0f} GFLOP); eta draws for one step: "
                      f"eps {f['eta_eps_s']:.3f} s, cholesky {f['eta_cholesky_s']:.3f} s; load {res['load_before']:.1f}")
        return
    if a.fast:
        cases = [dict(name="fast700", N=2000, d=700, k=500, P=200, T=10, steps_slow=5, slow_paths=()),
                 dict(name="fast100", N=2000, d=100, k=20, P=100, T=10, steps_slow=5, slow_paths=())]
    else:
        cases = [dict(name="d100", N=27000, d=100, k=20, P=1000, T=100, steps_slow=100, slow_paths=()),
                 dict(name="celeba700", N=27000, d=700, k=500, P=3000, T=100, steps_slow=a.steps_slow,
                      slow_paths=("straightforward", "exact+rejection", "float32", "reuse c=2K"))]
    if a.only:
        cases = [c for c in cases if c["name"] in a.only]
    paths = {p: PATHS[p] for p in (a.paths or PATHS)}
    results = [case(threads=a.threads, paths=paths, **c) for c in cases]
    print("\n" + table(results))
    if a.fast and not a.out:
        return  # the tiny version writes nothing unless --out is given
    out = Path(a.out) if a.out else HERE / "paper_scale.json"
    data = json.loads(out.read_text()) if out.exists() else {}
    key = f"threads={a.threads}" + ("" if a.paths is None else " paths=" + ",".join(paths))
    run = data.setdefault("runs", {}).setdefault(key, {})
    if isinstance(run.get("results"), list):  # older layout: a list of cases
        run["results"] = {res["name"]: dict(res, argv=run.get("argv")) for res in run["results"]}
    run.setdefault("results", {}).update({res["name"]: dict(res, argv=sys.argv[1:]) for res in results})
    out.write_text(json.dumps(data, indent=1))
    print(f"wrote {out} (runs[{key!r}])")

if __name__ == "__main__":
    main()
