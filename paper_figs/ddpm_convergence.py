#!/usr/bin/env python
"""Converged DDPM baseline in 2D (issue 14): early stopping on a validation loss and an EMA of the weights.

Data: the checkerboard and two spirals with exactly the splits of `paper_figs/results_table.py`
(1,000 training, 1,000 validation, 1,000 test points; the same seeds), so the numbers are comparable
with its table.

Stopping rule (stated, and recorded in the JSON): the DDPM holds out 20% of its 1,000 training rows;
for each held-out point 8 pairs (t, noise) are drawn once, so the validation loss is the same function
at every evaluation. It is evaluated every `eval_every` Adam iterations on the EMA weights (decay 0.999);
training stops when it has not fallen below (1 - tol) x its best value for `patience` evaluations, or
at the budget `n_iter`; the best EMA weights are restored. Constant learning rate 1e-3, batch 512.

Metrics on the test split: SW2 (500 projections, as in results_table.py), against the finite-sample
reference SW2(validation points, test points) -- what a perfect sampler scores with the same sizes --
precision / recall (k = 3). The old fixed-budget baseline (3,000 iterations, cosine schedule, no EMA,
the defaults) is run alongside for comparison.

    python paper_figs/ddpm_convergence.py          # full (about 10 CPU minutes of training at most)
    python paper_figs/ddpm_convergence.py --fast   # tiny (< 30 s), writes paper_figs/_fast/
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from mmsold.ddpm import DDPM, HAS_TORCH  # noqa: E402
from mmsold.metrics import precision_recall, sliced_wasserstein  # noqa: E402
from results_table import make_splits, settings as table_settings  # noqa: E402

DATASETS = ["checkerboard", "two_spirals"]


def settings(fast: bool) -> dict:
    if fast:
        return dict(seeds=[0], n_projections=64,
                    converged=dict(hidden=32, n_layers=2, n_iter=600, batch_size=256, lr=2e-3, n_sample_steps=20,
                                   ema_decay=0.99, val_fraction=0.2, eval_every=100, patience=2, tol=1e-2,
                                   lr_schedule="constant"),
                    baseline=dict(hidden=32, n_layers=2, n_iter=300, n_sample_steps=20))
    return dict(seeds=[0, 1], n_projections=500,
                converged=dict(hidden=128, n_layers=3, n_iter=15000, batch_size=512, lr=1e-3, n_sample_steps=100,
                               ema_decay=0.999, val_fraction=0.2, eval_every=500, patience=6, tol=2e-3,
                               lr_schedule="constant"),
                baseline=dict(hidden=128, n_layers=3, n_iter=3000, n_sample_steps=100))


def score(Z, X_test, cfg):
    p, r = precision_recall(X_test, Z)
    return dict(sw2=sliced_wasserstein(Z, X_test, cfg["n_projections"], random_state=0), precision=p, recall=r)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true")
    args = ap.parse_args(argv)
    out_dir = HERE / "_fast" if args.fast else HERE
    out_dir.mkdir(exist_ok=True)
    if not HAS_TORCH:
        print("PyTorch is not installed: nothing to do (pip install mmsold[baselines]).")
        return 0
    cfg = settings(args.fast)
    tcfg = table_settings(fast=False)  # the results table's full-size splits (1,000 / 1,000 / 1,000)
    if args.fast:
        tcfg = table_settings(fast=True)
    results, t_all = {}, time.perf_counter()
    for name in DATASETS:
        X_train, X_val, X_test = make_splits(name, tcfg)
        ref = score(X_val, X_test, cfg)
        block = {"reference": ref}
        for label, params in (("converged", cfg["converged"]), ("fixed budget (old defaults)", cfg["baseline"])):
            runs = []
            for seed in cfg["seeds"]:
                c0 = time.process_time()
                m = DDPM(random_state=seed, **params).fit(X_train)
                fit_cpu = time.process_time() - c0
                Z = m.sample(len(X_val), random_state=seed + 100)
                runs.append({**score(Z, X_test, cfg), "fit_cpu_seconds": fit_cpu, "n_iter_run": m.n_iter_,
                             "best_iter": m.best_iter_, "stopped_early": m.stopped_early_,
                             "val_loss": m.val_loss_.tolist(), "val_iters": m.val_iters_.tolist()})
                print(f"{name:13s} {label:27s} seed {seed}: SW2 {runs[-1]['sw2']:.4f} (ref {ref['sw2']:.4f}, "
                      f"ratio {runs[-1]['sw2'] / ref['sw2']:.2f})  P/R {runs[-1]['precision']:.2f}/"
                      f"{runs[-1]['recall']:.2f}  iters {m.n_iter_} (best {m.best_iter_}, early {m.stopped_early_})"
                      f"  fit {fit_cpu:.0f} s CPU", flush=True)
            block[label] = {"params": params, "runs": runs,
                            **{f"mean_{k}": float(np.mean([r[k] for r in runs]))
                               for k in ("sw2", "precision", "recall", "fit_cpu_seconds", "n_iter_run")}}
            block[label]["sw2_ratio"] = block[label]["mean_sw2"] / ref["sw2"]
        results[name] = block
    seconds = time.perf_counter() - t_all
    meta = {"settings": cfg, "splits": "paper_figs/results_table.py make_splits (full sizes)" if not args.fast
            else "results_table.py fast splits", "wall_seconds": seconds,
            "acceptance": "converged DDPM SW2 <= 1.15 x reference"}
    (out_dir / "ddpm_convergence.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    lines = ["| data | DDPM | SW2 test (mean over seeds) | reference | ratio | precision | recall | iterations run | fit CPU s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, block in results.items():
        ref = block["reference"]
        lines.append(f"| {name} | reference (validation points) | {ref['sw2']:.4f} | {ref['sw2']:.4f} | 1.00 | "
                     f"{ref['precision']:.2f} | {ref['recall']:.2f} | - | - |")
        for label in ("converged", "fixed budget (old defaults)"):
            b = block[label]
            lines.append(f"| {name} | {label} | {b['mean_sw2']:.4f} | {ref['sw2']:.4f} | {b['sw2_ratio']:.2f} | "
                         f"{b['mean_precision']:.2f} | {b['mean_recall']:.2f} | {b['mean_n_iter_run']:.0f} | "
                         f"{b['mean_fit_cpu_seconds']:.0f} |")
    (out_dir / "ddpm_convergence.md").write_text("\n".join(lines) + "\n")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, len(results), figsize=(4.5 * len(results), 3.2))
        for ax, (name, block) in zip(np.atleast_1d(axes), results.items()):
            for r, seed in zip(block["converged"]["runs"], cfg["seeds"]):
                ax.plot(r["val_iters"], r["val_loss"], marker=".", label=f"seed {seed}")
                ax.axvline(r["best_iter"], ls=":", c="grey")
            ax.set_title(f"{name}: validation loss (EMA weights)")
            ax.set_xlabel("Adam iteration"); ax.set_ylabel("loss"); ax.legend()
        fig.tight_layout()
        fig.savefig(out_dir / "ddpm_convergence.png", dpi=110)
    except Exception as e:  # pragma: no cover - plotting is best effort
        print("plot skipped:", e)
    print(f"wrote {out_dir}/ddpm_convergence.{{json,md,png}} in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
