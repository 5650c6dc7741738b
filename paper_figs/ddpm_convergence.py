#!/usr/bin/env python
"""Converged DDPM baseline in 2D (issue 14): Fourier-feature MLP, EMA, cosine lr, early stopping, and honest references.

Data: the checkerboard and two spirals with exactly the splits of `paper_figs/results_table.py`
(1,000 training, 1,000 validation, 1,000 test points; the same seeds), so the numbers are comparable
with its table.

Converged DDPM (the "converged" row): `DDPM(fourier_features=64, fourier_scale=1)` -- the input is
[x, sin(2 pi x B), cos(2 pi x B)] with 64 fixed random frequencies -- hidden 128 x 3 layers, batch 512,
Adam with a cosine learning rate from 2e-3 to 0 over a budget of 20,000 iterations, EMA of the weights
(decay 0.999). It trains on all 1,000 training rows; early stopping uses the protocol's 1,000
validation rows (`fit(X_train, X_val=X_val)`; 8 fixed (t, noise) draws per row, evaluated on the EMA
weights every 500 iterations; stop when 8 evaluations in a row are not 0.1% below the best before them;
the best EMA weights are restored). The same recipe without Fourier features is run as an ablation, and
the old fixed-budget baseline (3,000 iterations, the defaults) alongside.

Metrics on the test split: SW2 (500 projections, as in results_table.py) and precision / recall (k = 3),
averaged over the fitted seeds and several independent sample draws of 1,000 points each. References,
all against the same test points: (a) SW2(validation points, test points), the issue's "finite-sample
reference"; (b) fresh i.i.d. draws of 1,000 points from the true distribution (mean and sd over draws),
what a perfect sampler scores; (c) i.i.d. resamples of 1,000 of the 1,000 training rows, what a sampler
that has learnt the training rows' empirical distribution exactly scores.

    python paper_figs/ddpm_convergence.py          # full: 12 fits, about 28 min wall-clock (measured, shared 2 cores)
    python paper_figs/ddpm_convergence.py --from-json   # rebuild .md/.png from the saved .json
    python paper_figs/ddpm_convergence.py --fast   # tiny (< 30 s), writes paper_figs/_fast/
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

from mmsold.datasets import load_toy  # noqa: E402
from mmsold.ddpm import DDPM, HAS_TORCH  # noqa: E402
from mmsold.metrics import precision_recall, sliced_wasserstein  # noqa: E402
from results_table import CONVERGED_DDPM, make_splits, settings as table_settings  # noqa: E402

DATASETS = ["checkerboard", "two_spirals"]
ACCEPT = 1.15  # the acceptance: SW2 <= 1.15 x the finite-sample reference
LABELS = ("converged", "converged recipe, no Fourier features", "fixed budget (old defaults)")


def settings(fast: bool) -> dict:
    if fast:
        conv = dict(hidden=32, n_layers=2, n_iter=400, batch_size=256, lr=2e-3, n_sample_steps=20,
                    ema_decay=0.99, eval_every=100, patience=2, tol=1e-3, lr_schedule="cosine",
                    fourier_features=16, fourier_scale=1.0)
        return dict(seeds=[0], n_sample_draws=2, n_ref_draws=5, n_projections=64,
                    configs={LABELS[0]: conv, LABELS[1]: {**conv, "fourier_features": 0},
                             LABELS[2]: dict(hidden=32, n_layers=2, n_iter=200, n_sample_steps=20)},
                    use_val_split={LABELS[0]: True, LABELS[1]: True, LABELS[2]: False})
    conv = dict(CONVERGED_DDPM)  # the recipe results_table.py now uses for its DDPM column
    return dict(seeds=[0, 1], n_sample_draws=5, n_ref_draws=20, n_projections=500,
                configs={LABELS[0]: conv, LABELS[1]: {**conv, "fourier_features": 0},
                         LABELS[2]: dict(hidden=128, n_layers=3, n_iter=3000, n_sample_steps=100)},
                use_val_split={LABELS[0]: True, LABELS[1]: True, LABELS[2]: False})


def score(Z, X_test, cfg):
    p, r = precision_recall(X_test, Z)
    return dict(sw2=sliced_wasserstein(Z, X_test, cfg["n_projections"], random_state=0), precision=p, recall=r)


def references(name, X_train, X_val, X_test, cfg):
    "SW2 to the test points of (a) the validation points, (b) fresh true draws, (c) resamples of the training rows."
    n = len(X_val)
    sw = lambda Z: sliced_wasserstein(Z, X_test, cfg["n_projections"], random_state=0)
    fresh = [sw(load_toy(name, n, random_state=50_000 + k)) for k in range(cfg["n_ref_draws"])]
    rng = np.random.default_rng(7)
    resampled = [sw(X_train[rng.integers(0, len(X_train), n)]) for _ in range(cfg["n_ref_draws"])]
    return {"validation": score(X_val, X_test, cfg), "fresh_sw2": fresh, "train_resampled_sw2": resampled}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true")
    ap.add_argument("--from-json", action="store_true", help="rebuild the .md and .png from the existing .json (no training)")
    args = ap.parse_args(argv)
    out_dir = HERE / "_fast" if args.fast else HERE
    out_dir.mkdir(exist_ok=True)
    if args.from_json:
        saved = json.loads((out_dir / "ddpm_convergence.json").read_text())
        cfg, results = saved["meta"]["settings"], saved["results"]
        (out_dir / "ddpm_convergence.md").write_text(report(results, cfg, saved["meta"]["wall_seconds"]))
        plot(results, cfg, out_dir)
        print(f"rebuilt {out_dir}/ddpm_convergence.{{md,png}} from the JSON")
        return 0
    if not HAS_TORCH:
        print("PyTorch is not installed: nothing to do (pip install mmsold[baselines]).")
        return 0
    cfg = settings(args.fast)
    tcfg = table_settings(fast=args.fast)  # the results table's splits (1,000 / 1,000 / 1,000 in full)
    results, t_all = {}, time.perf_counter()
    for name in DATASETS:
        X_train, X_val, X_test = make_splits(name, tcfg)
        refs = references(name, X_train, X_val, X_test, cfg)
        ref = refs["validation"]["sw2"]
        print(f"{name}: reference SW2(val, test) {ref:.4f}; fresh true draws {np.mean(refs['fresh_sw2']):.4f} "
              f"+- {np.std(refs['fresh_sw2']):.4f}; resampled training rows {np.mean(refs['train_resampled_sw2']):.4f}"
              f" +- {np.std(refs['train_resampled_sw2']):.4f}", flush=True)
        block = {"reference": refs}
        for label, params in cfg["configs"].items():
            runs = []
            for seed in cfg["seeds"]:
                c0 = time.process_time()
                m = DDPM(random_state=seed, **params)
                m.fit(X_train, X_val=X_val) if cfg["use_val_split"][label] else m.fit(X_train)
                fit_cpu = time.process_time() - c0
                draws = [score(m.sample(len(X_val), random_state=1000 * seed + 100 + k), X_test, cfg)
                         for k in range(cfg["n_sample_draws"])]
                runs.append({"draws": draws, **{k: float(np.mean([d[k] for d in draws]))
                                                 for k in ("sw2", "precision", "recall")},
                             "fit_cpu_seconds": fit_cpu, "n_iter_run": m.n_iter_, "best_iter": m.best_iter_,
                             "stopped_early": m.stopped_early_, "val_loss": m.val_loss_.tolist(),
                             "val_iters": m.val_iters_.tolist()})
                print(f"{name:13s} {label:40s} seed {seed}: SW2 {runs[-1]['sw2']:.4f} (ratio {runs[-1]['sw2'] / ref:.2f})"
                      f"  P/R {runs[-1]['precision']:.2f}/{runs[-1]['recall']:.2f}  iters {m.n_iter_} "
                      f"(best {m.best_iter_}, early {m.stopped_early_})  fit {fit_cpu:.0f} s CPU", flush=True)
            all_sw = [d["sw2"] for r in runs for d in r["draws"]]
            block[label] = {"params": params, "validation_rows": "protocol validation split" if
                            cfg["use_val_split"][label] else "none", "runs": runs,
                            "sd_sw2_over_draws": float(np.std(all_sw)),
                            **{f"mean_{k}": float(np.mean([r[k] for r in runs]))
                               for k in ("sw2", "precision", "recall", "fit_cpu_seconds", "n_iter_run")}}
            block[label]["sw2_ratio"] = block[label]["mean_sw2"] / ref
        results[name] = block
    seconds = time.perf_counter() - t_all
    meta = {"settings": cfg, "splits": "paper_figs/results_table.py make_splits (full sizes)" if not args.fast
            else "results_table.py fast splits", "wall_seconds": seconds,
            "acceptance": f"converged DDPM SW2 <= {ACCEPT} x SW2(validation, test)"}
    (out_dir / "ddpm_convergence.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    (out_dir / "ddpm_convergence.md").write_text(report(results, cfg, seconds))
    plot(results, cfg, out_dir)
    print(f"wrote {out_dir}/ddpm_convergence.{{json,md,png}} in {seconds:.0f} s")
    return 0


def report(results, cfg, seconds):
    conv = cfg["configs"][LABELS[0]]
    n_fit = len(cfg["seeds"]) * len(cfg["configs"]) * len(results)
    L = ["# Converged DDPM baseline in 2D", "",
         "Generated by `python paper_figs/ddpm_convergence.py`. SW2 against the 1,000 test points (500 projections); "
         f"DDPM rows: mean over seeds {cfg['seeds']} x {cfg['n_sample_draws']} sample draws of 1,000 points "
         "(sd over those draws in brackets). Ratio = SW2 / SW2(validation points, test points), the issue's "
         "finite-sample reference.", "",
         "| data | sampler | SW2 test | ratio | precision | recall | iterations run | fit CPU s |",
         "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, block in results.items():
        R = block["reference"]
        ref = R["validation"]["sw2"]
        L.append(f"| {name} | reference: validation points | {ref:.4f} | 1.00 | {R['validation']['precision']:.2f} | "
                 f"{R['validation']['recall']:.2f} | - | - |")
        f, t = np.asarray(R["fresh_sw2"]), np.asarray(R["train_resampled_sw2"])
        L.append(f"| {name} | perfect sampler: fresh true draws ({len(f)}) | {f.mean():.4f} ({f.std():.4f}) | "
                 f"{f.mean() / ref:.2f} | | | - | - |")
        L.append(f"| {name} | memoriser: resamples of the 1,000 training rows ({len(t)}) | {t.mean():.4f} ({t.std():.4f}) | "
                 f"{t.mean() / ref:.2f} | | | - | - |")
        for label in LABELS:
            b = block[label]
            L.append(f"| {name} | DDPM {label} | {b['mean_sw2']:.4f} ({b['sd_sw2_over_draws']:.4f}) | {b['sw2_ratio']:.2f} | "
                     f"{b['mean_precision']:.2f} | {b['mean_recall']:.2f} | {b['mean_n_iter_run']:.0f} | "
                     f"{b['mean_fit_cpu_seconds']:.0f} |")
    L += ["", "## Recipe, stopping rule and budget", "",
          f"Converged DDPM: hidden {conv['hidden']} x {conv['n_layers']} layers (SiLU), random Fourier features of the "
          f"standardised input (m = {conv['fourier_features']}, scale {conv['fourier_scale']}), sinusoidal time embedding "
          f"(16), batch {conv['batch_size']}, Adam with a cosine learning rate from {conv['lr']:g} to 0 over the budget of "
          f"{conv['n_iter']} iterations, EMA decay {conv['ema_decay']}, DDIM {conv['n_sample_steps']} steps. Trained on all "
          "1,000 training rows; the validation loss (protocol validation split, 8 fixed (t, noise) draws per row, EMA "
          f"weights) is evaluated every {conv['eval_every']} iterations; training stops when {conv['patience']} evaluations "
          f"in a row are not {100 * conv['tol']:g}% below the best before them, or at the budget; the best EMA weights are "
          f"restored. CPU budget: {conv['n_iter']} iterations per fit, one torch thread (fit CPU seconds in the table). "
          f"Whole script: {seconds / 60:.1f} min wall-clock for {n_fit} fits plus sampling and references.", "",
          "## Acceptance (SW2 <= 1.15 x the finite-sample reference)", ""]
    for name, block in results.items():
        R = block["reference"]
        ref = R["validation"]["sw2"]
        f, t = np.asarray(R["fresh_sw2"]), np.asarray(R["train_resampled_sw2"])
        b = block[LABELS[0]]
        draws = np.array([d["sw2"] for r in b["runs"] for d in r["draws"]])
        verdict = "met" if b["sw2_ratio"] <= ACCEPT else "not met"
        L.append(f"- **{name}**: converged DDPM ratio {b['sw2_ratio']:.2f} ({verdict}); precision "
                 f"{b['mean_precision']:.2f}, recall {b['mean_recall']:.2f}. The threshold 1.15 x {ref:.4f} = "
                 f"{ACCEPT * ref:.4f} is passed by {100 * np.mean(f <= ACCEPT * ref):.0f}% of fresh draws from the "
                 f"true distribution (a perfect sampler; their mean ratio is {f.mean() / ref:.2f}), by "
                 f"{100 * np.mean(t <= ACCEPT * ref):.0f}% of resamples of the training rows (mean ratio "
                 f"{t.mean() / ref:.2f}) and by {100 * np.mean(draws <= ACCEPT * ref):.0f}% of the DDPM's own sample draws. "
                 f"DDPM against the memoriser: {b['mean_sw2'] / t.mean():.2f} x; against the perfect sampler: "
                 f"{b['mean_sw2'] / f.mean():.2f} x.")
    L += ["", "Reading: SW2 between two sets of 1,000 points fluctuates by about 20% from draw to draw (sd of the "
          "fresh draws above), so one validation set is a noisy yardstick. A model fitted to the training rows "
          "can at best reproduce their empirical distribution (the memoriser row) unless it generalises beyond "
          "them; where the memoriser itself is far above 1.15 x, the acceptance cannot be met by learning the "
          "training data better: that part of the gap is a property of this draw of the training (and validation) "
          "rows, not of the network. What lies between the DDPM and the memoriser (the factor 'DDPM against the "
          "memoriser') is the network's own error. Precision is the metric that sees the smearing of the samples: "
          "the Fourier features raise it from the no-Fourier row to the converged row, while SW2 at these sizes "
          "moves by less than its draw-to-draw sd on the spirals."]
    return "\n".join(L) + "\n"


def plot(results, cfg, out_dir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, len(results), figsize=(4.5 * len(results), 3.2))
        for ax, (name, block) in zip(np.atleast_1d(axes), results.items()):
            for label, ls in ((LABELS[0], "-"), (LABELS[1], "--")):
                for r, seed in zip(block[label]["runs"], cfg["seeds"]):
                    ax.plot(r["val_iters"], r["val_loss"], ls=ls, marker=".", ms=3,
                            label=f"{'Fourier' if label == LABELS[0] else 'no Fourier'}, seed {seed}")
                    ax.axvline(r["best_iter"], ls=":", c="grey", lw=0.8)
            ax.set_title(f"{name}: validation loss (EMA weights)")
            ax.set_xlabel("Adam iteration"); ax.set_ylabel("loss"); ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out_dir / "ddpm_convergence.png", dpi=110)
    except Exception as e:  # pragma: no cover - plotting is best effort
        print("plot skipped:", e)


if __name__ == "__main__":
    sys.exit(main())
