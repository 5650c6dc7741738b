#!/usr/bin/env python
"""Fig. 9: effect of the Langevin step size h and the number of steps T on MM-SOLD (checkerboard).

Left: SW2 from the P particles to a held-out sample of the target. Right: SW2 to the training set.
Dashed: the finite-sample reference, SW2 between the training set and the held-out sample (what
exact samples of the same size score). h is given as a fraction of the stability bound
2 delta^2 / lambda_max(Sigma*) (the sampler's default is 0.1); every (h, T) pair is a separate run
from the same seed (the same initial cloud and noise stream). Also writes the numbers to
`fig9_step_size_and_steps.csv`. Defaults delta = 0.2, sigma = 0.1: the pair results_table.py selects on
the checkerboard's validation split.

    python paper_figs/fig9_step_size_and_steps.py          # full grid -> paper_figs/fig9_step_size_and_steps.png
    python paper_figs/fig9_step_size_and_steps.py --fast   # tiny grid -> paper_figs/_fast/
"""
from __future__ import annotations

import _cpu  # noqa: E402,F401  (before NumPy/torch: one BLAS thread, torch CPU kernels pinned; see _cpu.py)

import argparse
import csv
import sys
import time
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from mmsold.datasets import checkerboard  # noqa: E402
from mmsold.metrics import sliced_wasserstein  # noqa: E402
from mmsold.sampler import MMSOLD  # noqa: E402


def settings(fast):
    if fast:
        return dict(n_train=300, n_heldout=300, P=300, fractions=[0.1, 0.5], steps=[10, 40], n_projections=64,
                    n_neighbors=16, n_noise=2)
    return dict(n_train=1000, n_heldout=1000, P=1000, fractions=[0.02, 0.05, 0.1, 0.2, 0.5],
                steps=[25, 50, 100, 200, 400, 800], n_projections=500, n_neighbors=32, n_noise=2)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fast", action="store_true", help="tiny grid (for make test); writes to paper_figs/_fast/")
    ap.add_argument("--delta", type=float, default=0.2)
    ap.add_argument("--sigma", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    cfg = settings(args.fast)
    out_dir = HERE / "_fast" if args.fast else HERE
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    X = checkerboard(cfg["n_train"], random_state=90)
    H = checkerboard(cfg["n_heldout"], random_state=91)
    ref = sliced_wasserstein(X, H, cfg["n_projections"], random_state=0)
    bound = MMSOLD(delta=args.delta, sigma=args.sigma).fit(X).stability_bound_
    MMSOLD(delta=args.delta, sigma=args.sigma, n_steps=2).fit(X).sample(10)  # warm-up: first-call costs not timed
    rows = []
    for frac in cfg["fractions"]:
        for T in cfg["steps"]:
            c0 = time.process_time()
            m = MMSOLD(delta=args.delta, sigma=args.sigma, step_size=frac * bound, n_steps=T,
                       n_neighbors=cfg["n_neighbors"], n_noise=cfg["n_noise"], random_state=args.seed).fit(X)
            Z = m.sample(cfg["P"])
            cpu = time.process_time() - c0
            rows.append(dict(h_fraction=frac, h=m.step_size_, T=T, time=T * m.step_size_, cpu_seconds=cpu,
                             sw2_heldout=sliced_wasserstein(Z, H, cfg["n_projections"], random_state=0),
                             sw2_train=sliced_wasserstein(Z, X, cfg["n_projections"], random_state=0)))
            r = rows[-1]
            print(f"  h={frac:.2f}xbound ({r['h']:.2e})  T={T:4d}  SW2 held-out {r['sw2_heldout']:.4f}  "
                  f"train {r['sw2_train']:.4f}  {cpu:.1f} CPU s", flush=True)
    with open(out_dir / "fig9_step_size_and_steps.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) + ["reference"])
        w.writeheader()
        w.writerows([{**r, "reference": ref} for r in rows])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    cmap = plt.get_cmap("viridis")
    for i, frac in enumerate(cfg["fractions"]):
        rs = [r for r in rows if r["h_fraction"] == frac]
        for ax, key in zip(axes, ("sw2_heldout", "sw2_train")):
            ax.plot([r["T"] for r in rs], [r[key] for r in rs], "o-", ms=3,
                    color=cmap(i / max(len(cfg["fractions"]) - 1, 1)), label=f"h = {frac:g} x bound")
    for ax, title in zip(axes, ("SW2 to held-out target sample", "SW2 to training set")):
        ax.axhline(ref, ls="--", c="k", lw=1, label="reference: SW2(train, held-out)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(cfg["steps"]))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%d"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.2f"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%.2f"))
        ax.set_xlabel("number of steps T")
        ax.set_title(title)
    axes[0].set_ylabel("SW2")
    axes[1].legend(fontsize=8)
    fig.suptitle(f"MM-SOLD on the checkerboard: N = P = {cfg['P']}, delta = {args.delta}, sigma = {args.sigma}",
                 fontsize=10)
    fig.tight_layout()
    out = out_dir / "fig9_step_size_and_steps.png"
    fig.savefig(out, dpi=130)
    print(f"fig9: reference {ref:.4f}; {time.perf_counter() - t_start:.1f} s wall; wrote {out}")


if __name__ == "__main__":
    main()
