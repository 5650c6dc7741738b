"""Paper-scale speed of the paper's Algorithm 2 estimator (issue 13, "Speed"): prints figures, not a test.

    python benchmarks/paper_scale.py            # CelebA scale (d = 700) and d = 100; writes benchmarks/paper_scale.json
    python benchmarks/paper_scale.py --fast     # tiny version, seconds; writes nothing (unless --out)
    python benchmarks/paper_scale.py --threads 2   # the same with 2 BLAS threads, merged into paper_scale.json
    python benchmarks/paper_scale.py --burn --paths reuse "reuse 2 threads" "reuse NumPy"   # with one core kept busy
    python benchmarks/paper_scale.py --mmsold --paths reuse   # also MMSOLD end to end (fit + sample), 1 and 2 threads

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
  default c = 4K candidates screened through the int16 copy, and with c = 2K; the per-particle work by the compiled
  one-pass kernel (`mmsold.score.fused`, the default when numba is installed) on 1 and on 2 threads, and by the NumPy
  blocks ("reuse NumPy"). float32 and reuse c=2K use the compiled kernel too.

`--burn` starts a process that keeps one core busy for the whole run (a loaded machine, as when another user or job
shares the 2 cores), so the 2-thread path can be compared with the 1-thread one under load.

A path too slow for all T steps (at d = 700 all but the default reuse) runs `--steps-slow` steps and its per-step time
is extrapolated to T (said so in the output). Also measured: the time of one float32 and one float64 P x N
product (the BLAS floor of a full search), and the two eta draws (eps X_sel^T against Cholesky of sigma^2 G) on
one step's selected centres. Peak RSS is the process's `ru_maxrss` after each path (cumulative: the paths run
in order of increasing expected footprint).

`--mmsold` also runs `MMSOLD` end to end with the paper's options (constrained, mixture target, data start) on the
same data, with `score_params={"n_jobs": 1}` and `{"n_jobs": 2}`, and records per score call how many neighbour
lists were searched again and the median distance the particles moved since the previous call: inside the
sampler the moves are preconditioned by Sigma*, so they can be much longer than the plain loop's.
"""
import argparse
import contextlib
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
    "reuse": dict(search="reuse"),                               # c = 4K candidates, compiled kernel (the default)
    "reuse 2 threads": dict(search="reuse", n_jobs=2),           # the compiled kernel on 2 threads
    "reuse NumPy": dict(search="reuse", kernel="numpy"),         # the same path with the NumPy blocks
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


@contextlib.contextmanager
def watch_score(est, record):
    "Inside the block, every call of the fitted `est.score_` is followed by `record(score, Z)`."
    score = est.score_

    class Watched(type(score)):   # special methods are looked up on the type, so wrap by a subclass
        def __call__(self, Z, rng):
            out = super().__call__(Z, rng)
            record(self, Z)
            return out

    cls, score.__class__ = score.__class__, Watched
    try:
        yield
    finally:
        score.__class__ = cls


def run_mmsold(X, P, T, delta, sigma, h, seed, n_jobs):
    "The same estimator inside the moment-matched sampler: MMSOLD with the paper's options, fit + sample timed."
    import warnings

    from mmsold.sampler import MMSOLD
    est = MMSOLD(delta=delta, sigma=sigma, step_size=h, n_steps=T, score_estimator="nearest_remainder",
                 n_neighbors=50, n_remainder=50, n_noise=2, target_covariance="mixture", init="data",
                 score_params={"n_jobs": n_jobs}, random_state=seed)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # the step-size note: h is above the explicit bound, as in the paper
        est.fit(X)
        t1 = time.perf_counter()
        # record, per score call, how many neighbour lists were searched again and how far the particles moved
        # (whitened coordinates) since the previous call: the quantities that decide what list reuse can save
        calls, last = [], {}

        def record(score, Z):
            move = np.nan if "Z" not in last else float(np.median(np.linalg.norm(Z - last["Z"], axis=1)))
            calls.append((int(score.n_refreshed_), move))
            last["Z"] = np.array(Z, copy=True)

        with watch_score(est, record):
            Zs = est.sample(P)
    t2 = time.perf_counter()
    mean_err = float(np.abs(Zs.mean(0) - est.mean_).max())
    cov_err = float(np.linalg.norm(np.cov(Zs.T, bias=True) - est.covariance_) / np.linalg.norm(est.covariance_))
    refreshed = [c[0] / P for c in calls[1:]]
    moves = [c[1] for c in calls[1:]]
    return dict(fit_s=t1 - t0, sample_s=t2 - t1, run_s=t2 - t0, n_jobs=n_jobs, mean_err=mean_err, cov_err=cov_err,
                peak_rss_mb=peak_rss_mb(), score_calls=len(calls), refreshed_per_call=refreshed,
                median_move_per_call=moves, refresh_fraction=float(np.mean(refreshed)) if refreshed else 1.0)


def _start_burner():
    "A subprocess spinning on one core until killed."
    import subprocess
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


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


def case(name, N, d, k, P, T, steps_slow, slow_paths, delta=0.05, sigma=1.0, h=5e-4, seed=0, threads=1, paths=PATHS,
         mmsold=False):
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
    if mmsold:
        res["mmsold"] = {}
        for nj in (1, 2) if P > d else ():   # exact moment matching needs P >= d + 1 particles
            with _blas_threads(threads):
                m = run_mmsold(X, P, T, delta, sigma, h, seed, nj)
            res["mmsold"][f"n_jobs={nj}"] = m
            print(f"  MMSOLD (constrained, paper options, score_params n_jobs={nj}): fit {m['fit_s']:.1f} s + sample "
                  f"{m['sample_s']:.1f} s = {m['run_s']:.1f} s; moment errors mean {m['mean_err']:.1e}, "
                  f"covariance {m['cov_err']:.1e}; lists refreshed {100 * m['refresh_fraction']:.1f}%/call, median "
                  f"move per call {np.nanmedian(m['median_move_per_call']):.2f}; peak RSS {m['peak_rss_mb']:.0f} MB")
    return res


def table(results):
    lines = ["| case | path | steps timed | s/step | s per run (T = 100) | x straightforward | lists refreshed per step | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|"]
    for res in results:
        for p, r in res["paths"].items():
            lines.append(f"| {res['name']} | {p} | {r['steps_run']}{' (extrapolated)' if r['extrapolated'] else ''} | "
                         f"{r['mean_step_s']:.3f} | {r['run_s']:.1f} | "
                         f"{'-' if np.isnan(r['x_straightforward']) else format(r['x_straightforward'], '.3f')} | "
                         f"{100 * r['refresh_fraction']:.1f}% | {r['peak_rss_mb']:.0f} |")
    mm = [(res, k, m) for res in results for k, m in res.get("mmsold", {}).items()]
    if mm:
        lines += ["", "| case | MMSOLD (fit + sample) | fit s | sample s | s per run | lists refreshed per score call | "
                  "median move per step | mean error | covariance error | peak RSS MB |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for res, k, m in mm:
            lines.append(f"| {res['name']} | score_params {k} | {m['fit_s']:.1f} | {m['sample_s']:.1f} | {m['run_s']:.1f} | "
                         f"{100 * m['refresh_fraction']:.1f}% | {np.nanmedian(m['median_move_per_call']):.2f} | "
                         f"{m['mean_err']:.1e} | {m['cov_err']:.1e} | {m['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fast", action="store_true", help="tiny version (seconds)")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads for the products")
    ap.add_argument("--steps-slow", type=int, default=10, help="steps of the float64 paths at d = 700")
    ap.add_argument("--only", nargs="*", default=None, help="case names to run (celeba700, d100)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--paths", nargs="*", default=None, help=f"paths to run (default all: {list(PATHS)})")
    ap.add_argument("--mmsold", action="store_true", help="also time MMSOLD end to end (fit + sample) with 1 and 2 threads")
    ap.add_argument("--burn", action="store_true", help="keep one core busy with a burner process during the run")
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
    burner = _start_burner() if a.burn else None
    try:
        results = [case(threads=a.threads, paths=paths, mmsold=a.mmsold, **c) for c in cases]
    finally:
        if burner is not None:
            burner.kill()
            burner.wait()
    for res in results:
        res["burner"] = bool(a.burn)
    print("\n" + table(results))
    if a.fast and not a.out:
        return  # the tiny version writes nothing unless --out is given
    out = Path(a.out) if a.out else HERE / "paper_scale.json"
    data = json.loads(out.read_text()) if out.exists() else {}
    key = (f"threads={a.threads}" + ("" if a.paths is None else " paths=" + ",".join(paths)) + (" burn" if a.burn else "")
           + (" mmsold" if a.mmsold else ""))
    run = data.setdefault("runs", {}).setdefault(key, {})
    if isinstance(run.get("results"), list):  # older layout: a list of cases
        run["results"] = {res["name"]: dict(res, argv=run.get("argv")) for res in run["results"]}
    run.setdefault("results", {}).update({res["name"]: dict(res, argv=sys.argv[1:]) for res in results})
    out.write_text(json.dumps(data, indent=1))
    print(f"wrote {out} (runs[{key!r}])")

if __name__ == "__main__":
    main()
