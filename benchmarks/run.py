"""Speed benchmarks for MM-SOLD sampling (issue 7): seconds per step, total, peak memory, against P,
N, d, K, M, with ratios to the straightforward reference path and to the BLAS arithmetic floor, plus
accuracy (score error, neighbour recall) and sample quality of the approximate searches.

    python benchmarks/run.py            # full suite (tens of minutes on 2 shared cores)
    python benchmarks/run.py --fast     # small suite, about a minute
    python benchmarks/run.py --plot     # redraw benchmarks/scaling.png from benchmarks/results.json

Each timing case runs in its own subprocess (so `ru_maxrss` is that case's peak memory) with
single-threaded BLAS unless `--threads` says otherwise. Inside the subprocess the method and the
reference path (`neighbor_search="reference"`: `mmsold.neighbors.default_neighbors`, a k-d tree query
of every perturbed point every step, NumPy brute force above d = 12) run alternately `repeat` times,
so each ratio compares runs made under the same machine load. The floor is the time of the matrix
products `Y X^T` for all P*M*N query-training distances of one step (chunked like the brute-force
search), timed in the same process. Times are wall-clock (`perf_counter`) and CPU (`process_time`) of
`fit` + `sample`, i.e. including index builds; "per step" divides by the number of steps.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


# ----------------------------------------------------------------------------------------------
# one case, in a subprocess
# ----------------------------------------------------------------------------------------------
def make_data(kind, N, d, seed=0):
    import numpy as np
    if kind == "checkerboard":
        from mmsold.datasets import checkerboard
        return checkerboard(N, random_state=seed)
    from mmsold.datasets import latent_manifold
    return latent_manifold(N, n_features=d, intrinsic_dim=min(10, d), random_state=seed)


def bandwidths(cfg, X):
    "delta, sigma: given, or for the latent data relative to the median nearest-neighbour distance r1."
    import numpy as np
    if "delta" in cfg:
        return cfg["delta"], cfg["sigma"]
    from mmsold.neighbors import BruteForceNeighbors
    sub = X[:: max(1, len(X) // 500)]
    r1 = float(np.median(np.sqrt(BruteForceNeighbors(X)(sub, 2)[0][:, 1])))
    return cfg.get("delta_rel", 0.5) * r1, cfg.get("sigma_rel", 0.1) * r1


def timed_run(X, cfg, search, params, steps, delta, sigma):
    import numpy as np
    from mmsold.sampler import MMSOLD
    est = MMSOLD(delta=delta, sigma=sigma, n_steps=steps, n_neighbors=cfg["K"], n_noise=cfg["M"],
                 neighbor_search=search, search_params=params, random_state=cfg.get("seed", 0))
    w0, c0 = time.perf_counter(), time.process_time()
    Z = est.fit(X).sample(cfg["P"])
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    search = getattr(getattr(est, "score_", None), "search_", None)
    stats = getattr(search, "stats_", None)  # Verlet lists count their fallbacks and rebuilds
    return Z, wall, cpu, (dict(stats) if stats else None)


def blas_floor(P_L, N, d, X, repeat=3):
    "Seconds for the chunked products Y X^T over all P*M x N distances of one step (min of repeats)."
    import numpy as np
    from mmsold.core import row_blocks
    rng = np.random.default_rng(0)
    Y = rng.standard_normal((P_L, d))
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        for sl in row_blocks(P_L, N):
            Y[sl] @ X.T
        best = min(best, time.perf_counter() - t)
    return best


def accuracy(X, Z, cfg, search, params, delta, sigma, n_check=200):
    "Score relative error against the reference path, and neighbour recall, on n_check particles."
    import numpy as np
    from mmsold.neighbors import BruteForceNeighbors, make_neighbors
    from mmsold.neighbors import default_neighbors
    from mmsold.potential import smoothed_score
    Zc = Z[:n_check]
    kw = dict(n_noise=cfg["M"], n_neighbors=cfg["K"], random_state=123)
    s_ref = smoothed_score(Zc, X, delta, sigma, neighbors=default_neighbors(X), **kw)
    nn = make_neighbors(X, search, **(params or {}))
    s = smoothed_score(Zc, X, delta, sigma, neighbors=nn, **kw)
    rel = float(np.abs(s - s_ref).max() / np.abs(s_ref).max())
    rng = np.random.default_rng(7)
    Yq = (Zc[:, None, :] + sigma * rng.standard_normal((len(Zc), cfg["M"], X.shape[1]))).reshape(-1, X.shape[1])
    _, I_ref = BruteForceNeighbors(X)(Yq, cfg["K"])
    nn.reset()
    nn.anchor(Zc)
    _, I = nn(Yq, cfg["K"])
    recall = float(np.mean([len(np.intersect1d(a, b)) for a, b in zip(I, I_ref)]) / cfg["K"])
    return rel, recall


def run_case(cfg):
    import resource
    import numpy as np
    X = make_data(cfg["data"], cfg["N"], cfg.get("d", 2))
    N, d = X.shape
    delta, sigma = bandwidths(cfg, X)
    search, params = cfg["search"], cfg.get("params") or {}
    # warm-up on a small problem: loads the compiled kernels from numba's disk cache
    timed_run(X[: min(N, 400)], dict(cfg, P=min(cfg["P"], max(64, d + 2))), search, params, 2, delta, sigma)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = dict(cfg, N=N, d=d, delta=delta, sigma=sigma, runs=[])
    from mmsold.neighbors import GridNeighbors, make_neighbors
    t = time.perf_counter()  # the index build alone (cell lists for this K, FAISS training); included in the totals
    nn = make_neighbors(X, search, **params)
    if isinstance(nn, GridNeighbors):  # cell lists build per K at the first query
        nn.grid(cfg["K"])
    out["build_s"] = time.perf_counter() - t
    del nn
    for r in range(cfg.get("repeat", 1)):
        Z, wall, cpu, stats = timed_run(X, cfg, search, params, cfg["steps"], delta, sigma)
        if r == 0:
            out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            out["stats"] = stats
        run = dict(wall=wall, cpu=cpu)
        if cfg.get("ref_steps", 0):
            _, rw, rc, _ = timed_run(X, cfg, "reference", None, cfg["ref_steps"], delta, sigma)
            run.update(ref_wall=rw, ref_cpu=rc)
        out["runs"].append(run)
    out["rss_baseline_mb"] = rss0
    out["floor_step"] = blas_floor(cfg["P"] * cfg["M"], N, d, X, repeat=1 if cfg["P"] * cfg["M"] * N > 1e8 else 3)
    if cfg.get("check", True):
        out["score_rel_err"], out["recall"] = accuracy(X, Z, cfg, search, params, delta, sigma)
    return out


def summarise(res):
    "Per-step times and ratios from a case result (median over repeats)."
    import numpy as np
    steps = res["steps"]
    wall = np.array([r["wall"] for r in res["runs"]]); cpu = np.array([r["cpu"] for r in res["runs"]])
    s = dict(step_wall=float(np.median(wall)) / steps, step_cpu=float(np.median(cpu)) / steps,
             total_wall=float(np.median(wall)), total_cpu=float(np.median(cpu)))
    if "ref_wall" in res["runs"][0]:
        rw = np.array([r["ref_wall"] for r in res["runs"]]) / res["ref_steps"]
        rc = np.array([r["ref_cpu"] for r in res["runs"]]) / res["ref_steps"]
        s.update(ref_step_wall=float(np.median(rw)), ref_step_cpu=float(np.median(rc)),
                 ratio_wall=float(np.median(wall / steps / rw)), ratio_cpu=float(np.median(cpu / steps / rc)))
    s["floor_ratio"] = s["step_wall"] / res["floor_step"]
    s["step_wall_run"] = (s["total_wall"] - res.get("build_s", 0.0)) / steps  # excluding the index build
    return s


def spawn(cfg, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), NUMBA_NUM_THREADS=str(max(2, threads)))
    p = subprocess.run([sys.executable, __file__, "--case", json.dumps(cfg)], capture_output=True, text=True,
                       env=env, cwd=ROOT)
    if p.returncode:
        print(p.stderr[-3000:], file=sys.stderr)
        return dict(cfg, error=p.stderr[-500:])
    return json.loads(p.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------------
# the suites
# ----------------------------------------------------------------------------------------------
CB = dict(data="checkerboard", N=2000, d=2, P=2000, K=16, M=4, delta=0.2, sigma=0.3)
LAT = dict(data="latent", d=100, N=27000, P=1000, K=50, M=50, delta_rel=0.5, sigma_rel=0.1)


def suites(fast):
    S = {}
    # the checkerboard target: N = P = 2000, K = 16, M = 4, 1000 steps
    steps = 100 if fast else 1000
    S["target_2d"] = [dict(CB, search=s, params=p, steps=n, ref_steps=n, repeat=r, label=l)
                      for s, p, n, r, l in (("auto", None, steps, 1 if fast else 2, "cell lists (auto), 1 thread"),
                                            ("auto", {"n_jobs": 2}, steps, 1 if fast else 3, "cell lists (auto), 2 threads"),
                                            ("kdtree", None, steps, 1, "k-d tree = reference path (noise check)"),
                                            ("verlet", None, steps // 5, 1, "Verlet lists (exact)"))[: 1 if fast else 4]]
    # Verlet lists vs smoothing radius: they pay off when sigma sqrt(d) is small against the spacing
    S["verlet_sigma"] = [dict(CB, sigma=sg, search=s, steps=20 if fast else 100, ref_steps=20 if fast else 100,
                              label=f"{s}, sigma={sg}")
                         for sg in ((0.0,) if fast else (0.0, 0.02, 0.1, 0.3)) for s in ("verlet", "auto")]
    # P sweep and N sweep (2D), K and M sweeps
    st = 10 if fast else 50
    S["P_2d"] = [dict(CB, P=P, search="auto", steps=st, ref_steps=st, label=f"P={P}")
                 for P in ((250, 2000) if fast else (250, 1000, 4000, 16000))]
    if not fast:
        S["N_2d"] = [dict(CB, N=N, P=1000, search="auto", steps=st, ref_steps=st, label=f"N={N}")
                     for N in (1000, 3000, 10000, 30000, 100000)]
    if not fast:
        S["K_2d"] = [dict(CB, K=K, search="auto", steps=st, ref_steps=st, label=f"K={K}") for K in (4, 16, 64)]
        S["M_2d"] = [dict(CB, M=M, search="auto", steps=st, ref_steps=st, label=f"M={M}") for M in (1, 4, 16)]
    # d sweep on the latent-manifold data (N = 10,000)
    S["d"] = [dict(data="latent", d=d, N=10000 if not fast else 3000, P=500 if not fast else 200, K=16, M=4,
                   delta_rel=0.5, sigma_rel=0.25, search="auto", steps=5 if fast else 10,
                   ref_steps=2 if fast else 5, label=f"d={d}")
              for d in ((32,) if fast else (2, 8, 32, 128))]
    # N sweep at d = 100: exact brute force vs the approximate searches (P = 250, M = 8, K = 16)
    S["N_100"] = [dict(LAT, N=N, P=250, K=16, M=8, search=s, params=p, steps=5 if fast else 10, ref_steps=1,
                       label=f"{s}, N={N}")
                  for N in ((3000,) if fast else (1000, 3000, 10000, 30000, 100000))
                  for s, p in ((("candidates", None),) if fast else (("brute", None), ("candidates", None), ("faiss", None)))]
    # recall of the approximate candidate lists against the smoothing radius (sigma relative to r1)
    S["sigma_100"] = [dict(LAT, P=250, M=8, sigma_rel=sr, search="candidates", params={"dtype": "float32"},
                           steps=2 if fast else 3, ref_steps=1, label=f"candidates C=8K, sigma={sr} r1")
                      for sr in (() if fast else (0.05, 0.1, 0.25))]
    # the latent target: d = 100, N = 27,000, P = 1,000, K = M = 50, 100 steps
    if fast:
        S["target_100"] = [dict(LAT, N=5000, P=200, search=s, params=p, steps=3, ref_steps=1, label=l)
                           for s, p, l in (("candidates", {"n_jobs": 2}, "candidate lists, 2 threads (approx.)"),)]
    else:
        S["target_100"] = [dict(LAT, search=s, params=p, steps=n, ref_steps=1, label=l)
                           for s, p, n, l in (
                               ("candidates", {"n_jobs": 2}, 100, "candidate lists C=8K, 2 threads (approx.)"),
                               ("candidates", None, 100, "candidate lists C=8K, 1 thread (approx.)"),
                               ("verlet", {"exact": False, "dtype": "float32"}, 10,
                                "uncompiled two-stage lists (Verlet, exact=False), 10 steps"),
                               ("faiss", {"nprobe": 8}, 3, "FAISS IVF nprobe=8 (approx., 3 steps)"),
                               ("brute32", None, 3, "brute force float32 (3 steps)"),
                               ("brute", None, 3, "brute force float64, exact (3 steps)"))]
    return S


def quality(fast):
    "Sample quality of the approximate searches against the exact one: SW2 (2D) and KID (digits)."
    import numpy as np
    from mmsold.datasets import checkerboard, load_digits_all
    from mmsold.metrics import kernel_inception_distance, sliced_wasserstein
    from mmsold.sampler import MMSOLD
    seeds = range(2 if fast else 5)
    out = {}
    X = checkerboard(2000 if not fast else 500, random_state=0)
    tests = [checkerboard(2000, random_state=100 + k) for k in range(3)]
    out["checkerboard SW2, fresh data (floor)"] = (
        float(np.mean([sliced_wasserstein(checkerboard(len(X), random_state=50 + s), T, n_projections=200, random_state=0)
                       for s in seeds for T in tests])), 0.0)
    for search in ("auto", "candidates", "faiss"):
        vals = []
        for s in seeds:
            Z = MMSOLD(delta=0.2, sigma=0.3, n_steps=300 if not fast else 40, n_neighbors=16, n_noise=4,
                       neighbor_search=search, random_state=s).fit(X).sample(len(X))
            vals.append(np.mean([sliced_wasserstein(Z, T, n_projections=200, random_state=0) for T in tests]))
        out[f"checkerboard SW2, {search}"] = (float(np.mean(vals)), float(np.std(vals)))
    D, _ = load_digits_all(rescale=True)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(D)); Xd, Xh = D[idx[:1400]], D[idx[1400:]]
    out["digits KID (x1e3), training images (floor)"] = (
        1e3 * kernel_inception_distance(Xd[:400], Xh, n_subsets=20, subset_size=100, random_state=0)[0], 0.0)
    for search in ("brute", "candidates", "faiss", "brute32"):
        vals = []
        for s in seeds:
            Z = MMSOLD(delta=0.3, sigma=0.2, n_steps=200 if not fast else 30, n_neighbors=50, n_noise=8,
                       neighbor_search=search, random_state=s).fit(Xd).sample(400 if not fast else 100)
            vals.append(kernel_inception_distance(Z, Xh, n_subsets=20, subset_size=100, random_state=0)[0])
        out[f"digits KID (x1e3), {search}"] = (1e3 * float(np.mean(vals)), 1e3 * float(np.std(vals)))
    return out


def fmt(x, unit=""):
    if x is None:
        return "-"
    if x >= 100:
        return f"{x:.0f}{unit}"
    return f"{x:.3g}{unit}"


def table(name, results):
    lines = [f"\n### {name}\n",
             "| case | N | d | P | K | M | steps | s/step (wall) | total s | build s | CPU s/step | peak MB | "
             "x reference (wall / CPU) | x BLAS floor | score rel. err | recall | fallbacks |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r.get('label')} | error: {r['error'][-80:]!r} |")
            continue
        s = summarise(r)
        ratio = f"{s['ratio_wall']:.3f} / {s['ratio_cpu']:.3f}" if "ratio_wall" in s else "-"
        st = r.get("stats") or {}
        fb = f"{st['fallbacks'] / max(st['queries'], 1):.1%}" if st.get("queries") else "-"
        lines.append(f"| {r['label']} | {r['N']} | {r['d']} | {r['P']} | {r['K']} | {r.get('M', r.get('L'))} | {r['steps']} | "
                     f"{s['step_wall'] * 1e3:.3g} ms | {fmt(s['total_wall'])} | {fmt(r.get('build_s'))} | {s['step_cpu'] * 1e3:.3g} ms | "
                     f"{r['peak_rss_mb']:.0f} | {ratio} | {s['floor_ratio']:.3g} | "
                     f"{r.get('score_rel_err', float('nan')):.1e} | {r.get('recall', float('nan')):.4f} | {fb} |")
    return "\n".join(lines)


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axs = plt.subplots(1, 3, figsize=(13, 3.8))
    panels = (("P_2d", "P", "checkerboard, N=2000, K=16, M=4"), ("N_2d", "N", "checkerboard, P=1000, K=16, M=4"),
              ("N_100", "N", "latent d=100, P=250, K=16, M=8"))
    for ax, (key, var, title) in zip(axs, panels):
        rows = [r for r in results.get(key, []) if "error" not in r]
        for search in sorted({r["search"] for r in rows}):
            rr = sorted((r for r in rows if r["search"] == search), key=lambda r: r[var])
            ax.loglog([r[var] for r in rr], [summarise(r)["step_wall_run"] for r in rr], "o-", label=search)
        ref = {}
        for r in rows:
            s = summarise(r)
            if "ref_step_wall" in s:
                ref[r[var]] = s["ref_step_wall"]
        if ref:
            xs = sorted(ref)
            ax.loglog(xs, [ref[x] for x in xs], "k--", label="reference")
        fl = sorted({(r[var], r["floor_step"]) for r in rows})
        ax.loglog([a for a, _ in fl], [b for _, b in fl], ":", color="gray", label="BLAS floor")
        ax.set_xlabel(var); ax.set_ylabel("seconds per step (wall, build excluded)"); ax.set_title(title, fontsize=9); ax.legend(fontsize=7)
    plt.tight_layout(); plt.savefig(path, dpi=120)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fast", action="store_true", help="small suite (about a minute)")
    ap.add_argument("--only", nargs="*", help="run only these suites")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads per case (default 1)")
    ap.add_argument("--plot", action="store_true", help="only redraw the figure from saved results")
    ap.add_argument("--tables", action="store_true", help="only print the tables of the saved results")
    ap.add_argument("--no-quality", action="store_true")
    ap.add_argument("--out", help="results file (default benchmarks/results.json, or results_fast.json)")
    ap.add_argument("--merge", nargs="*", help="merge these results files into the results file, then exit")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.case:
        print(json.dumps(run_case(json.loads(a.case))))
        return
    out_json = Path(a.out) if a.out else HERE / ("results_fast.json" if a.fast else "results.json")
    if a.merge:
        saved = json.loads(out_json.read_text()) if out_json.exists() else {"suites": {}}
        for f in a.merge:
            other = json.loads(Path(f).read_text())
            saved["suites"].update(other.get("suites", {}))
            if "quality" in other:
                saved["quality"] = other["quality"]
        out_json.write_text(json.dumps(saved, indent=1))
        return
    if a.plot:
        plot(json.loads(out_json.read_text())["suites"], HERE / "scaling.png")
        return
    if a.tables:
        saved = json.loads(out_json.read_text())
        for name, res in saved["suites"].items():
            print(table(name, res))
        if "quality" in saved:
            print("\n### sample quality (mean +- sd over seeds)\n\n| metric, search | value |\n|---|---|")
            for k, (m, sd) in saved["quality"].items():
                print(f"| {k} | {m:.4g} +- {sd:.2g} |")
        return
    t0 = time.perf_counter()
    saved = json.loads(out_json.read_text()) if (a.only and out_json.exists() and not a.out) else {"suites": {}}
    for name, cases in suites(a.fast).items():
        if (a.only and name not in a.only) or not cases:
            continue
        res = [spawn(c, a.threads) for c in cases]
        saved["suites"][name] = res
        out_json.write_text(json.dumps(saved, indent=1))
        print(table(name, res), flush=True)
    if not a.no_quality and (not a.only or "quality" in a.only):
        q = quality(a.fast)
        saved["quality"] = q
        print("\n### sample quality (mean +- sd over seeds)\n\n| metric, search | value |\n|---|---|")
        for k, (m, s) in q.items():
            print(f"| {k} | {m:.4g} +- {s:.2g} |")
    saved["machine"] = dict(cpus=os.cpu_count(), load=os.getloadavg(), threads=a.threads,
                            seconds=time.perf_counter() - t0)
    out_json.write_text(json.dumps(saved, indent=1))
    if not a.fast:
        plot(saved["suites"], HERE / "scaling.png")
    print(f"\n{time.perf_counter() - t0:.0f} s in all; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
