#!/usr/bin/env python
"""Fig. 2: MM-SOLD against sigma-CFDM on the checkerboard and two spirals, equal sample counts.

Rows: checkerboard, two spirals. Columns: training set (grey), sigma-CFDM (red), MM-SOLD (blue),
both with the same number of samples as the held-out test split. Settings are the ones chosen on
the validation split by `results_table.py` (read from `results.json` when it exists and was made
with the same settings; otherwise the same selection is re-run here). Panel titles give SW2 to the
held-out test split, the memorisation share and the CPU seconds. Seed 0, so the samples are the
first test seed of the results table.

    python paper_figs/fig2_mmsold_vs_cfdm.py          # full settings -> paper_figs/fig2_mmsold_vs_cfdm.png
    python paper_figs/fig2_mmsold_vs_cfdm.py --fast   # tiny settings -> paper_figs/_fast/
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import results_table as rt  # noqa: E402
from mmsold.metrics import memorisation_report, sliced_wasserstein  # noqa: E402

DATASETS = ["checkerboard", "two_spirals"]
TITLES = {"checkerboard": "Checkerboard", "two_spirals": "Two spirals"}


def chosen_params(name, cfg, out_dir):
    "Validation-selected settings for MM-SOLD and sigma-CFDM: from results.json if consistent, else re-selected."
    path = out_dir / "results.json"
    if path.exists():
        saved = json.loads(path.read_text())
        same = json.loads(json.dumps(cfg, default=float))
        kept = {k: v for k, v in saved.get("settings", {}).items() if k != "merged_runs"}  # the --merge log
        if kept == {**same, "datasets": saved["settings"].get("datasets")} and \
                name in saved["results"]:
            r = saved["results"][name]
            print(f"  {name}: settings from {path.name}")
            return r["MM-SOLD"]["params"], r["sigma-CFDM"]["params"]
    print(f"  {name}: no matching {path.name}; selecting on the validation split here")
    X_train, X_val, _ = rt.make_splits(name, cfg)
    log = []
    # the results table's two-stage search: (delta, sigma) first, then the step fraction at the chosen pair
    tr = rt.search("MM-SOLD", dict(cfg["mmsold_grid"]), X_train, X_val, cfg, log)
    p1, _ = rt.pick(tr)
    tr += rt.search("MM-SOLD", dict(delta=[p1["delta"]], sigma=[p1["sigma"]], step_fraction=cfg["step_fractions"]),
                    X_train, X_val, cfg, log)
    p_mm, _ = rt.pick(tr)
    p_cf, _ = rt.pick(rt.search("sigma-CFDM", dict(sigma=cfg["cfdm_grid"]), X_train, X_val, cfg, log))
    return p_mm, p_cf


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fast", action="store_true", help="tiny settings (for make test); writes to paper_figs/_fast/")
    args = ap.parse_args(argv)
    cfg = rt.settings(args.fast)
    out_dir = HERE / "_fast" if args.fast else HERE
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rt.warm_up()
    fig, axes = plt.subplots(2, 3, figsize=(10.5, 7), sharex="row", sharey="row")
    summary = {}
    for row, name in enumerate(DATASETS):
        X_train, _, X_test = rt.make_splits(name, cfg)
        p_mm, p_cf = chosen_params(name, cfg, out_dir)
        ax = axes[row]
        ax[0].scatter(*X_train.T, s=1.5, c="0.4", lw=0)
        ax[0].set_title(f"{TITLES[name]}: training set (N={len(X_train)})")
        for k, (method, params, color) in enumerate((("sigma-CFDM", p_cf, "tab:red"), ("MM-SOLD", p_mm, "tab:blue"))):
            Z, cpu, *_ = rt.run(method, params, X_train, cfg, seed=cfg["seeds"][0])
            sw = sliced_wasserstein(Z, X_test, cfg["n_projections"], random_state=0)
            memo = memorisation_report(Z, X_train, X_test)
            summary[(name, method)] = dict(sw2_test=sw, memorisation=memo["share"], cpu_seconds=cpu, params=params)
            a = ax[k + 1]
            a.scatter(*Z.T, s=1.5, c=color, lw=0)
            label = ", ".join(f"{p}={params[p]:.3g}" for p in ("delta", "sigma") if p in params)
            a.set_title(f"{method} ({label})\nSW2 to test {sw:.3f}, memorised {memo['share']:.2f}, {cpu:.1f} CPU s",
                        fontsize=9)
            print(f"  {name:13s} {method:10s} SW2 test {sw:.4f}  memorisation {memo['share']:.3f} "
                  f"(held-out {memo['share_heldout']:.3f})  {cpu:.1f} CPU s  {params}")
        ref = sliced_wasserstein(rt.make_splits(name, cfg)[1][: cfg["n_samples"]], X_test, cfg["n_projections"],
                                 random_state=0)
        ax[0].set_xlabel(f"reference SW2 (fresh points to test): {ref:.3f}", fontsize=9)
        for a in ax:
            a.set_aspect("equal")
    fig.suptitle(f"MM-SOLD (blue) vs sigma-CFDM (red), {cfg['n_samples']} samples each", fontsize=11)
    fig.tight_layout()
    out = out_dir / "fig2_mmsold_vs_cfdm.png"
    fig.savefig(out, dpi=130)
    print(f"fig2: {time.perf_counter() - t0:.1f} s wall; wrote {out}")
    return summary


if __name__ == "__main__":
    main()
