#!/usr/bin/env python
"""Fig. 1 at the authors' settings: the 12-point circle, Stein-identity multipliers beside the exact ones, and the NLL curves.

Authors (2d_circular/run_2d_circular.py): 12 equally spaced training points on the unit circle,
delta = 0.1, 16 values sigma in {0.05, 0.10, ..., 0.80}. Multipliers by Stein's identity evaluated at
1,024 points spread evenly on the circle (not the 12 training points): lam = -mean g, S = I - sym(C),
C = mean (x - mu*) g^T, and Lam from the Lyapunov equation Sigma* Lam + Lam Sigma* = 2 S with
Sigma* = Sigma_x + delta^2 I; g the smoothed gradient by 10,000 antithetic Monte Carlo draws per point.
V by 10,000 antithetic Monte Carlo draws on a 300 x 300 grid over [-2.5, 2.5]^2; log Z by a grid sum;
the figure shows the negative log-likelihood of exp(-E), E = V + lam.z + (z - mu*)^T Lam (z - mu*) / 2,
and of exp(-V) at 1,000 points on the circle as sigma grows.

Here: the same data, sigma values, 1,024 Stein points, Stein formula (`mmsold.stein.stein_multipliers`,
with the authors' Sigma*), gradients by antithetic Monte Carlo (10,000 draws per point in full, 200 in
--fast), the same 300 x 300 grid, grid-sum log Z and 1,000 test points. Differences: V on the grid and at
the test points by 2D Gauss-Hermite quadrature (`mmsold.potential.smoothed_potential`, 16 x 16 nodes)
instead of Monte Carlo (removes the Monte Carlo noise of V; the authors' V carries it), float64
throughout (the authors: float32). Added: the exact multipliers of the same constraint (mean mu*,
covariance Sigma* = Sigma_x + delta^2 I) from the package's grid solve (`solve_tilt_on_grid`), their
distance from the Stein estimate, and the NLL of exp(-E) with them.
--fast: 3 sigma values, a 100 x 100 grid, 8 x 8 quadrature nodes, 200 Monte Carlo draws.

    python paper_figs/fig1_paper_settings.py          # full -> paper_figs/fig1_paper_settings.{json,md,png}
    python paper_figs/fig1_paper_settings.py --fast   # small -> paper_figs/_fast/
"""
from __future__ import annotations

import _cpu  # noqa: F401  (before NumPy: one BLAS thread)

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.special import logsumexp  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _script import output_dir, git_head  # noqa: E402
from mmsold.potential import smoothed_potential  # noqa: E402
from mmsold.stein import stein_multipliers  # noqa: E402
from mmsold.tilt import solve_tilt_on_grid  # noqa: E402

FULL = dict(sigmas=[round(0.05 * k, 2) for k in range(1, 17)], grid_n=300, grid_range=2.5, n_quad=16, n_mc=10_000,
            n_stein=1024, n_test=1000, n_train=12, delta=0.1, seed=0)
FAST = dict(sigmas=[0.05, 0.2, 0.4], grid_n=100, grid_range=2.5, n_quad=8, n_mc=200, n_stein=1024,
            n_test=1000, n_train=12, delta=0.1, seed=0)


def circle(n):
    t = 2 * np.pi * np.arange(n) / n
    return np.c_[np.cos(t), np.sin(t)]


def smoothed_gradient_mc(Z, X, delta, sigma, n_mc, rng, block=64):
    "E_eps[grad U(z + sigma eps)], U(z) = -log sum_i exp(-|z - x_i|^2 / (2 delta^2)), by antithetic Monte Carlo per point."
    out = np.empty_like(Z)
    half = n_mc // 2
    for s in range(0, len(Z), block):
        Zb = Z[s:s + block]
        e = rng.standard_normal((len(Zb), half, Z.shape[1]))
        P = Zb[:, None, :] + sigma * np.concatenate([e, -e], axis=1)        # (B, M, d)
        logits = -((P[:, :, None, :] - X[None, None]) ** 2).sum(-1) / (2 * delta * delta)
        w = np.exp(logits - logits.max(-1, keepdims=True))
        w /= w.sum(-1, keepdims=True)
        out[s:s + block] = ((P - w @ X) / (delta * delta)).mean(axis=1)
    return out


def energy(V, Z, lam, Lam, mu):
    "The authors' E = V + lam.z + (z - mu)^T Lam (z - mu) / 2."
    D = Z - mu
    return V + Z @ lam + 0.5 * np.einsum("bi,ij,bj->b", D, Lam, D)


def nll(E_grid, E_test, dx):
    return float(np.mean(E_test) + logsumexp(-E_grid) + 2 * np.log(dx))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fast", action="store_true", help="small settings (for make test); writes to paper_figs/_fast/")
    args = ap.parse_args(argv)
    cfg = FAST if args.fast else FULL
    out_dir = output_dir(args.fast)
    t0, c0 = time.perf_counter(), time.process_time()
    rng = np.random.default_rng(cfg["seed"])
    delta = cfg["delta"]
    X = circle(cfg["n_train"])
    X_est, X_test = circle(cfg["n_stein"]), circle(cfg["n_test"])
    mu = X_est.mean(0)
    Sigma_star = np.cov(X_est.T, bias=True) + delta * delta * np.eye(2)
    ax = np.linspace(-cfg["grid_range"], cfg["grid_range"], cfg["grid_n"])
    dx = ax[1] - ax[0]
    G = np.stack(np.meshgrid(ax, ax, indexing="ij"), -1).reshape(-1, 2)
    rows = []
    for sigma in cfg["sigmas"]:
        t1 = time.perf_counter()
        g = smoothed_gradient_mc(X_est, X, delta, sigma, cfg["n_mc"], rng)
        lam_s, Lam_s = stein_multipliers(X_est, g, covariance=Sigma_star)
        sol = solve_tilt_on_grid(X, delta, sigma, covariance=Sigma_star)
        # the package's tilt is exp(-V + lam.z - z^T Lam z / 2); in the authors' form E = V + lam_a.z + (z-mu)^T Lam (z-mu)/2
        Lam_e = sol.Lam
        lam_e = Lam_e @ mu - sol.lam
        V_grid = smoothed_potential(G, X, delta, sigma, method="quadrature", n_quad=cfg["n_quad"])
        V_test = smoothed_potential(X_test, X, delta, sigma, method="quadrature", n_quad=cfg["n_quad"])
        E = {name: (energy(V_grid, G, l, L, mu), energy(V_test, X_test, l, L, mu))
             for name, (l, L) in {"stein": (lam_s, Lam_s), "exact": (lam_e, Lam_e)}.items()}
        # moments of exp(-E) on the grid: how well each set of multipliers meets the constraint
        mom = {}
        for name, (Eg, _) in E.items():
            w = np.exp(-(Eg - Eg.min())); w /= w.sum()
            m = w @ G; C = (G - m).T @ ((G - m) * w[:, None])
            mom[name] = float(np.linalg.norm(C - Sigma_star) / np.linalg.norm(Sigma_star))
        rows.append(dict(sigma=sigma, nll_naive=nll(V_grid, V_test, dx), nll_stein=nll(*E["stein"], dx),
                         nll_exact=nll(*E["exact"], dx), lam_stein=lam_s.tolist(), Lam_stein=Lam_s.tolist(),
                         lam_exact=lam_e.tolist(), Lam_exact=Lam_e.tolist(),
                         Lam_rel_diff=float(np.linalg.norm(Lam_s - Lam_e) / np.linalg.norm(Lam_e)),
                         Lam_abs_diff=float(np.linalg.norm(Lam_s - Lam_e)), Lam_exact_norm=float(np.linalg.norm(Lam_e)),
                         lam_abs_diff=float(np.linalg.norm(lam_s - lam_e)),
                         cov_error_stein=mom["stein"], cov_error_exact=mom["exact"],
                         grid_solve_converged=bool(sol.converged), seconds=time.perf_counter() - t1))
        r = rows[-1]
        print(f"sigma={sigma:.2f}: NLL naive {r['nll_naive']:.4f}  MM (Stein) {r['nll_stein']:.4f}  MM (exact) "
              f"{r['nll_exact']:.4f}; |Lam_S - Lam_exact| = {r['Lam_abs_diff']:.3f} (|Lam_exact| = {r['Lam_exact_norm']:.3f}); cov. error of "
              f"exp(-E): Stein {r['cov_error_stein']:.3f}, exact {r['cov_error_exact']:.1e} ({r['seconds']:.1f} s)",
              flush=True)
    res = dict(settings=cfg, Sigma_star=Sigma_star.tolist(), fast=args.fast, rows=rows,
               wall_seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0,
               numpy=np.__version__, python=platform.python_version(), git_head=git_head())
    (out_dir / "fig1_paper_settings.json").write_text(json.dumps(res, indent=1))
    s = [r["sigma"] for r in rows]
    fig, axs = plt.subplots(1, 2, figsize=(10, 3.6))
    axs[0].plot(s, [r["nll_naive"] for r in rows], "r--s", label="exp(-V) (naive)")
    axs[0].plot(s, [r["nll_stein"] for r in rows], "b-o", label="exp(-E), Stein multipliers (authors)")
    axs[0].plot(s, [r["nll_exact"] for r in rows], "k:^", label="exp(-E), exact multipliers (grid solve)")
    axs[0].set_xlabel("sigma"); axs[0].set_ylabel("NLL at 1,000 circle points"); axs[0].legend(fontsize=8)
    axs[1].plot(s, [r["Lam_abs_diff"] for r in rows], "g-o", label="|Lam_Stein - Lam_exact|_F")
    axs[1].plot(s, [r["Lam_exact_norm"] for r in rows], "k:", label="|Lam_exact|_F")
    axs[1].plot(s, [r["cov_error_stein"] for r in rows], "b--", label="cov. error of exp(-E), Stein")
    axs[1].set_xlabel("sigma"); axs[1].set_yscale("log"); axs[1].legend(fontsize=8)
    fig.suptitle(f"12 points on the unit circle, delta = {delta}: the authors' Fig. 1 protocol", fontsize=10)
    fig.tight_layout(); fig.savefig(out_dir / "fig1_paper_settings.png", dpi=110); plt.close(fig)
    lines = ["# Fig. 1 at the authors' settings (12 points on the unit circle, delta = 0.1)", "",
             f"Written by `paper_figs/fig1_paper_settings.py{' --fast' if args.fast else ''}` in "
             f"{res['wall_seconds']:.0f} s (numpy {np.__version__}, git {res['git_head'][:10]}); grid "
             f"{cfg['grid_n']}^2 over [-{cfg['grid_range']}, {cfg['grid_range']}]^2, {cfg['n_mc']} antithetic draws per "
             f"Stein point, V by {cfg['n_quad']}^2-node quadrature.", "",
             "| sigma | NLL exp(-V) | NLL exp(-E), Stein | NLL exp(-E), exact | |Lam_S - Lam_exact| | |Lam_exact| | |lam_S - lam_exact| | cov. error exp(-E), Stein | same, exact |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['sigma']:.2f} | {r['nll_naive']:.4f} | {r['nll_stein']:.4f} | {r['nll_exact']:.4f} | "
                     f"{r['Lam_abs_diff']:.3f} | {r['Lam_exact_norm']:.3f} | {r['lam_abs_diff']:.1e} | {r['cov_error_stein']:.3f} | "
                     f"{r['cov_error_exact']:.1e} |")
    (out_dir / "fig1_paper_settings.md").write_text("\n".join(lines) + "\n")
    print(f"fig1_paper_settings: {res['wall_seconds']:.1f} s wall -> {out_dir / 'fig1_paper_settings.json'}")


if __name__ == "__main__":
    main()
