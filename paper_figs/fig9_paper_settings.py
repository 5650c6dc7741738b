#!/usr/bin/env python
"""Fig. 9 at the paper's settings: step size h and number of steps T of MM-SOLD on the checkerboard.

The paper's 2D protocol (issue 13, fact 3): N = 1,000 training points (the data of
`fig2_mmsold_vs_cfdm.py`), delta = 0.02, K = L = 50 nearest-plus-remainder estimator, mixture target
covariance, data start, Leimkuhler-Matthews, h around 5e-4, T from 100 to 3,000. Here sigma = 0.05 and
M = 2 (the paper's values for this figure are not known to us), P = 1,000 particles (paper: 20,000), one
seed; h in {5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3}; each h is one run of 3,000 steps whose particles are read
off after T = 100, 200, 500, 1,000, 2,000, 3,000 steps. Metrics: SW2 (512 projections) to 20,000 fresh
target points and to the training set, the memorisation share, the share of particles outside the
data's bounding box and the largest distance from the mean (outliers); dashed: the finite-sample
reference, SW2 of 1,000 held-out points.

    python paper_figs/fig9_paper_settings.py          # full -> fig9_paper_settings.{png,json}
    python paper_figs/fig9_paper_settings.py --fast   # tiny (< 30 s) -> paper_figs/_fast/
"""
from __future__ import annotations

import _cpu  # noqa: E402,F401  (before NumPy/torch: one BLAS thread, torch CPU kernels pinned; see _cpu.py)

import argparse
import json
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import results_table as rt  # noqa: E402
from fig2_paper_settings import fit_quiet, paper_mmsold, scores  # noqa: E402
from mmsold.datasets import load_toy  # noqa: E402
from mmsold.metrics import sliced_wasserstein  # noqa: E402


def settings(fast: bool) -> dict:
    if fast:
        return dict(P=200, hs=[1e-4, 5e-4], checkpoints=[10, 30], delta=0.02, sigma=0.05, M=2, n_projections=64,
                    n_fresh=2000, seed=0)
    return dict(P=1000, hs=[5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3], checkpoints=[100, 200, 500, 1000, 2000, 3000],
                delta=0.02, sigma=0.05, M=2, n_projections=512, n_fresh=20000, seed=0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fast", action="store_true", help="tiny settings (for make test); writes to paper_figs/_fast/")
    args = ap.parse_args(argv)
    cfg = settings(args.fast)
    out_dir = HERE / "_fast" if args.fast else HERE
    out_dir.mkdir(parents=True, exist_ok=True)
    t0, c0 = time.perf_counter(), time.process_time()
    print("fig9 (paper settings):", json.dumps(cfg))
    X, held, _ = rt.make_splits("checkerboard", rt.settings(False))
    held = held[: cfg["P"]]
    fresh = load_toy("checkerboard", cfg["n_fresh"], random_state=777)
    ref = dict(sw2_fresh=sliced_wasserstein(held, fresh, cfg["n_projections"], random_state=0),
               sw2_train=sliced_wasserstein(held, X, cfg["n_projections"], random_state=0))
    lam_max = float(np.linalg.eigvalsh(np.cov(X, rowvar=False, bias=True) + cfg["delta"] ** 2 * np.eye(2))[-1])
    bound = 2 * cfg["delta"] ** 2 / lam_max
    rows = []
    for h in cfg["hs"]:
        c1 = time.process_time()
        T = max(cfg["checkpoints"])
        m, _ = fit_quiet(paper_mmsold(cfg["delta"], cfg["sigma"], cfg["M"], h, T, cfg["seed"]), X)
        snaps = m.sample_snapshots(cfg["P"], cfg["checkpoints"], random_state=cfg["seed"])
        cpu = time.process_time() - c1
        for k, Z in sorted(snaps.items()):
            rows.append(dict(h=h, h_over_bound=h / bound, T=k, time=h * k, cpu_seconds_run=cpu,
                             **scores(Z, X, fresh, held, cfg["n_projections"])))
            r = rows[-1]
            print(f"  h={h:.1e} ({h / bound:.2f} x bound) T={k:5d}: SW2 fresh {r['sw2_fresh']:.4f} train "
                  f"{r['sw2_train']:.4f} memorised {r['memorised']:.3f} outside {r['share_outside']:.3f} "
                  f"max radius {r['max_radius']:.2f}", flush=True)
        print(f"  h={h:.1e}: {cpu:.1f} CPU s for {T} steps", flush=True)
    res = dict(settings=cfg, reference=ref, stability_bound=bound, rows=rows,
               wall_seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0)
    (out_dir / "fig9_paper_settings.json").write_text(json.dumps(res, indent=1))
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    cmap = plt.get_cmap("viridis")
    for i, h in enumerate(cfg["hs"]):
        rs = [r for r in rows if r["h"] == h]
        col = cmap(i / max(len(cfg["hs"]) - 1, 1))
        lab = f"h = {h:.1e} ({h / bound:.2f} x bound)"
        for ax, key in zip(axes, ("sw2_fresh", "sw2_train", "memorised")):
            ax.plot([r["T"] for r in rs], [r[key] for r in rs], "o-", ms=3, color=col, label=lab)
    for ax, key, title in zip(axes, ("sw2_fresh", "sw2_train", None),
                              ("SW2 to fresh target points", "SW2 to the training set", "memorised share")):
        if key:
            ax.axhline(ref[key], ls="--", c="k", lw=1, label="reference (held-out points)")
            ax.set_yscale("log")
        ax.set_xscale("log")
        ax.set_xlabel("number of steps T")
        ax.set_title(title, fontsize=10)
    axes[2].axhline(rows[0]["memorised_heldout"], ls="--", c="k", lw=1, label="held-out points")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"MM-SOLD, checkerboard, paper's protocol: N = {len(X)}, P = {cfg['P']}, delta = {cfg['delta']}, "
                 f"sigma = {cfg['sigma']}, M = {cfg['M']}, K = L = 50, data start, mixture target; "
                 f"explicit bound 2 delta^2 / lambda_max = {bound:.1e}", fontsize=9)
    fig.tight_layout()
    fig.savefig(out_dir / "fig9_paper_settings.png", dpi=120)
    print(f"fig9 (paper settings): {res['wall_seconds']:.1f} s wall, {res['cpu_seconds']:.1f} CPU s; "
          f"wrote {out_dir / 'fig9_paper_settings.png'}")
    return res


if __name__ == "__main__":
    main()
