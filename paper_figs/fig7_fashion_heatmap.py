#!/usr/bin/env python
"""Figs. 7 / 8 substitute (issue 14): MM-SOLD's KID and FID over a (sigma, M) grid, Fashion-MNIST AE latent.

Same data, latent (autoencoder, 100-dim, PartialWhitening k = 20, tail variance 1), classifier
features and estimator as `fig4_fashion.py` (models come from its cache), the paper's settings
otherwise (K = L = 50, mixture covariance, data start, T = 100, delta = 0.05), except the step: h is
0.8 x the latent's stability bound 2 delta^2 / lambda_max(Sigma*) (the paper's h = 5e-4 is above the
bound in this latent, where MM-SOLD swings with period 2; `--step-size 5e-4` runs it). Scaled down
to fit the shared CPU: P = 1,000 particles per cell (the paper: 3,000) and a 3 x 2 grid
sigma in {1, 2, 4} x M in {2, 8} (the paper's CelebA grid, sigma in {1, ..., 7} x M in {2, ..., 32},
is for a 700-dim latent). sigma-CFDM at the same sigma and M is run next to each cell, and the
heatmaps show MM-SOLD's KID, FID and the difference of KID to sigma-CFDM (negative = MM-SOLD better),
as in the paper's Fig. 8.

    python paper_figs/fig7_fashion_heatmap.py          # full (about 10 CPU minutes)
    python paper_figs/fig7_fashion_heatmap.py --fast   # tiny (< 60 s), writes paper_figs/_fast/
"""
from __future__ import annotations

import _cpu  # noqa: E402,F401  (before NumPy/torch: one BLAS thread, torch CPU kernels pinned; see _cpu.py)

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _script import output_dir, skip_without_torch  # noqa: E402
from fig4_fashion import PAPER, Scorer, build_models, load_or_skip, run_sampler, settings as fig4_settings, stiff_directions  # noqa: E402
from mmsold.cfdm import SigmaCFDM  # noqa: E402
from mmsold.sampler import MMSOLD  # noqa: E402


def grid(fast):
    if fast:
        return dict(sigmas=[1.0], Ms=[2, 4], P=200)
    return dict(sigmas=[1.0, 2.0, 4.0], Ms=[2, 8], P=1000)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true")
    ap.add_argument("--cache-dir", default="default")
    ap.add_argument("--sigmas", default=None, help="comma-separated sigma grid (overrides the default)")
    ap.add_argument("--Ms", default=None, help="comma-separated M grid (overrides the default)")
    ap.add_argument("--P", type=int, default=None, help="particles per cell (overrides the default)")
    ap.add_argument("--no-cfdm", action="store_true", help="skip the sigma-CFDM runs (the difference panel is then empty)")
    ap.add_argument("--step-size", type=float, default=None,
                    help="MM-SOLD step h (default: 0.8 x the latent's stability bound 2 delta^2 / lambda_max(Sigma*); the paper's is 5e-4)")
    args = ap.parse_args(argv)
    out_dir = output_dir(args.fast)
    if skip_without_torch():
        return 0
    cfg = {**fig4_settings(args.fast), "latents": ["AE"]}
    g = grid(args.fast)
    if args.sigmas:
        g["sigmas"] = [float(v) for v in args.sigmas.split(",")]
    if args.Ms:
        g["Ms"] = [int(v) for v in args.Ms.split(",")]
    if args.P:
        g["P"] = args.P
    g["cfdm"] = not args.no_cfdm
    t_all = time.perf_counter()
    data = load_or_skip(cfg)
    if data is None:
        return 0
    X_train, y_train, _, X_test, _ = data
    clf, lat, _ = build_models(cfg, X_train, y_train, args.cache_dir)
    L = lat["AE"]
    bound = stiff_directions(L.W_train, PAPER["step_size"])["bound"]
    g["step_size"] = args.step_size if args.step_size is not None else 0.8 * bound
    g["stability_bound"] = bound
    print(f"step h = {g['step_size']:.3g} (stability bound {bound:.3g})", flush=True)
    score = Scorer(clf, X_train, X_test, cfg)
    cells = []
    for s in g["sigmas"]:
        for M in g["Ms"]:
            row = dict(sigma=s, M=M)
            todo = [("MM-SOLD", lambda r: MMSOLD(**{**PAPER, "sigma": s, "n_noise": M, "step_size": g["step_size"]}, n_steps=cfg["T"], random_state=r))]
            if g["cfdm"]:
                todo.append(("sigma-CFDM", lambda r: SigmaCFDM(sigma=s, n_steps=cfg["T"], n_neighbors=50,
                                                               n_remainder=50, n_noise=M, random_state=r)))
            row["sigma-CFDM"] = {"cpu_seconds": 0.0, "note": "not run"}
            for name, make in todo:
                Z, cpu, note, swing = run_sampler(make, L.W_train, g["P"], 0)
                r = score(L.decode(Z))[0] if Z is not None else {}
                row[name] = {**r, **swing, "cpu_seconds": cpu, "note": note}
            print(f"sigma {s:g} M {M}: MM-SOLD KID {row['MM-SOLD'].get('kid', np.nan):.3e} "
                  f"FID {row['MM-SOLD'].get('fid', np.nan):.3f} | sigma-CFDM KID "
                  f"{row['sigma-CFDM'].get('kid', np.nan):.3e} FID {row['sigma-CFDM'].get('fid', np.nan):.3f}", flush=True)
            cells.append(row)
    seconds = time.perf_counter() - t_all
    (out_dir / "fig7_fashion_heatmap.json").write_text(json.dumps(
        {"meta": {"grid": g, "settings": cfg, "paper_params": PAPER, "wall_seconds": seconds}, "cells": cells},
        indent=1, default=str))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    S, Ms = g["sigmas"], g["Ms"]
    def mat(f):
        return np.array([[f(c) for c in cells if c["sigma"] == s] for s in S])
    panels = [("MM-SOLD KID", mat(lambda c: c["MM-SOLD"].get("kid", np.nan))),
              ("MM-SOLD FID", mat(lambda c: c["MM-SOLD"].get("fid", np.nan))),
              ("KID: MM-SOLD - sigma-CFDM", mat(lambda c: c["MM-SOLD"].get("kid", np.nan) - c["sigma-CFDM"].get("kid", np.nan)))]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for ax, (title, A) in zip(axes, panels):
        im = ax.imshow(A, cmap="viridis" if "-" not in title else "coolwarm", aspect="auto")
        ax.set_xticks(range(len(Ms)), [str(m) for m in Ms]); ax.set_yticks(range(len(S)), [f"{s:g}" for s in S])
        ax.set_xlabel("M (noise draws)"); ax.set_ylabel("sigma"); ax.set_title(title, fontsize=9)
        for i in range(A.shape[0]):
            for j in range(A.shape[1]):
                ax.text(j, i, f"{A[i, j]:.3g}", ha="center", va="center", fontsize=8, color="w")
        fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(out_dir / "fig7_fashion_heatmap.png", dpi=110)
    lines = [f"AE latent, P = {g['P']} per cell, T = {cfg['T']}, MM-SOLD step h = {g['step_size']:.3g} "
             f"(stability bound {g['stability_bound']:.3g}).", "",
             "| sigma | M | MM-SOLD KID | MM-SOLD FID | sigma-CFDM KID | sigma-CFDM FID | MM-SOLD CPU s | CFDM CPU s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for c in cells:
        a, b = c["MM-SOLD"], c["sigma-CFDM"]
        lines.append(f"| {c['sigma']:g} | {c['M']} | {a.get('kid', np.nan):.3e} | {a.get('fid', np.nan):.3f} | "
                     f"{b.get('kid', np.nan):.3e} | {b.get('fid', np.nan):.3f} | {a['cpu_seconds']:.0f} | {b['cpu_seconds']:.0f} |")
    (out_dir / "fig7_fashion_heatmap.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out_dir}/fig7_fashion_heatmap.{{json,md,png}} in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
