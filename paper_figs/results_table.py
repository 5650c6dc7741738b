#!/usr/bin/env python
"""Results table (issue 4, part 5): 2D data sets x methods, scored on a held-out test split.

Methods: MM-SOLD, naive SOLD (the same Langevin dynamics without the moment constraint),
sigma-CFDM at its best bandwidth, and a small MLP DDPM (only when PyTorch is installed).
Metrics: SW2 to the held-out test split, SW2 to the training set, memorisation share (next to
the held-out points' own share), moment errors against the training moments, CPU seconds
(process time of fit + sample; the DDPM's includes training), plus KID (on coordinates standardised
by the training standard deviations), precision / recall and density / coverage.

Protocol: each data set is drawn once and split into train / validation / test. Bandwidths (and
MM-SOLD's step size) are chosen on the validation split only: the lowest SW2 to the validation
points among settings whose memorisation share is not far above that of the validation points
themselves (a sampler that copies training points scores the finite-sample reference on SW2, so
SW2 alone would reward memorisation); the trials are run by the public `mmsold.model_selection.BandwidthSearch`
(MM-SOLD: a (delta, sigma) grid, then step fractions at the chosen pair). The chosen settings are then run with several seeds and
scored on the test split, which is never used for choosing anything.

    python paper_figs/results_table.py          # full settings (~10-12 CPU minutes)
    python paper_figs/results_table.py --fast   # tiny settings for `make test`, writes paper_figs/_fast/
"""
from __future__ import annotations

import _cpu  # noqa: E402,F401  (before NumPy/torch: one BLAS thread, torch CPU kernels pinned; see _cpu.py)

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing

from mmsold.cfdm import SigmaCFDM  # noqa: E402
from mmsold.datasets import load_toy, split  # noqa: E402
from mmsold.ddpm import DDPM, HAS_TORCH  # noqa: E402
from mmsold.metrics import (density_coverage, kernel_inception_distance, memorisation_report,  # noqa: E402
                            moment_errors, precision_recall, sliced_wasserstein)
from mmsold.model_selection import BandwidthSearch  # noqa: E402
from mmsold.sampler import MMSOLD  # noqa: E402

DATASETS = ["checkerboard", "two_spirals", "moons", "eight_gaussians", "swiss_roll_2d"]
METHODS = ["MM-SOLD", "naive SOLD", "sigma-CFDM", "DDPM"]


# The converged DDPM recipe (measured in paper_figs/ddpm_convergence.py): random Fourier features of the
# input, cosine learning rate over a 20,000-iteration budget, EMA of the weights, early stopping on the
# validation split (8 evaluations in a row without a 0.1% improvement; the best EMA weights are restored).
CONVERGED_DDPM = dict(hidden=128, n_layers=3, n_iter=20000, batch_size=512, lr=2e-3, n_sample_steps=100,
                      ema_decay=0.999, eval_every=500, patience=8, tol=1e-3, lr_schedule="cosine",
                      fourier_features=64, fourier_scale=1.0)


def settings(fast: bool) -> dict:
    "All sizes, grids and budgets in one place (recorded in the JSON output)."
    if fast:
        return dict(datasets=DATASETS, n_train=300, n_val=300, n_test=300, n_samples=300, seeds=[0],
                    n_projections=64, data_seed=2026,
                    mmsold=dict(n_steps=60, n_neighbors=16, n_noise=2),
                    mmsold_grid=dict(delta=[0.1, 0.2], sigma=[0.0, 0.1]), step_fractions=[0.25],
                    cfdm=dict(n_steps=20, n_neighbors=20, n_remainder=20, n_noise=2, t0=0.0),
                    cfdm_grid=[0.0, 0.1, 0.3],
                    ddpm=dict(hidden=32, n_layers=2, n_iter=100, n_sample_steps=20),
                    kid=dict(n_subsets=5, subset_size=100))
    # sized to finish in about 10-12 CPU minutes: the 2 cores of the build machine are shared
    return dict(datasets=DATASETS, n_train=1000, n_val=1000, n_test=1000, n_samples=1000, seeds=[0, 1, 2, 3, 4],
                n_projections=500, data_seed=2026,
                mmsold=dict(n_steps=500, n_neighbors=32, n_noise=2),
                mmsold_grid=dict(delta=[0.05, 0.1, 0.2], sigma=[0.0, 0.1]), step_fractions=[0.05, 0.25],
                cfdm=dict(n_steps=100, n_neighbors=50, n_remainder=50, n_noise=2, t0=0.0),
                cfdm_grid=[0.0, 0.05, 0.1, 0.2, 0.3],
                ddpm=dict(CONVERGED_DDPM),
                kid=dict(n_subsets=50, subset_size=500))


def warm_up():
    "Run each sampler once on a tiny problem so that one-off first-call costs are not in any timing."
    X = load_toy("checkerboard", 50, random_state=0)
    MMSOLD(n_steps=2, n_neighbors=8).fit(X).sample(10)
    SigmaCFDM(sigma=0.1, n_steps=2, n_neighbors=8, n_remainder=4).fit(X).sample(10)


def make_splits(name: str, cfg: dict):
    "One draw of the data set, split into (train, validation, test) with a fixed seed."
    n = cfg["n_train"] + cfg["n_val"] + cfg["n_test"]
    seed = cfg["data_seed"] + DATASETS.index(name)
    X = load_toy(name, n, random_state=seed)
    rest, test = split(X, cfg["n_test"], random_state=seed + 100)
    train, val = split(rest, cfg["n_val"], random_state=seed + 200)
    return train, val, test


def build(method: str, params: dict, cfg: dict, seed: int):
    "An unfitted estimator for `method` with the tunable `params` and the fixed budget of `cfg`."
    if method in ("MM-SOLD", "naive SOLD"):
        return MMSOLD(delta=params["delta"], sigma=params["sigma"], step_size=params.get("step_size"),
                      moment_match=(method == "MM-SOLD"), random_state=seed, **cfg["mmsold"])
    if method == "sigma-CFDM":
        return SigmaCFDM(sigma=params["sigma"], random_state=seed, **cfg["cfdm"])
    if method == "DDPM":
        return DDPM(random_state=seed, **cfg["ddpm"])
    raise ValueError(f"unknown method {method!r}; valid: {METHODS}")


def run(method: str, params: dict, X_train, cfg: dict, seed: int, X_val=None):
    "Fit and sample; returns samples and (cpu_seconds, wall_seconds) of fit + sample (the DDPM early-stops on X_val)."
    c0, w0 = time.process_time(), time.perf_counter()
    model = build(method, params, cfg, seed)
    model = model.fit(X_train, X_val=X_val) if method == "DDPM" else model.fit(X_train)
    Z = model.sample(cfg["n_samples"])
    return Z, time.process_time() - c0, time.perf_counter() - w0, model


VALIDATION_SEED = 10_000  # the sampling seed of every validation trial (distinct from the test seeds)


def search(method: str, grid: dict, X_train, X_val, cfg: dict, log: list) -> list[dict]:
    """Validation trials of `method` over `grid`, run by the public `mmsold.model_selection.BandwidthSearch`.

    Every trial samples with the seed VALIDATION_SEED (`seeding="estimator"`) and is scored by SW2 to the
    validation points with directions seeded 0 and the memorisation guard; a `step_fraction` is turned
    into MM-SOLD's step size h = fraction x the fitted stability bound by the search. Returns one dict per
    trial (grid order) and logs it.
    """
    est = build(method, {"delta": 0.1, "sigma": 0.0}, cfg, seed=VALIDATION_SEED)  # the grid sets delta / sigma
    s = BandwidthSearch(est, grid, validation=X_val, n_samples=cfg["n_samples"],
                        scoring_params={"n_projections": cfg["n_projections"]}, seeding="estimator",
                        error_score="raise", refit=False, random_state=0).fit(X_train)
    r, trials = s.cv_results_, []
    for i, params in enumerate(r["params"]):
        p = dict(params)
        if "step_fraction" in p:
            p["step_size"] = float(r["step_size"][i])
        t = dict(sw2_val=float(r["validation_score"][i]), memorisation=float(r["memorisation"][i]),
                 memorisation_ref=float(r["memorisation_ref"][i]), params=p,
                 cpu_seconds=float(r["cpu_seconds"][i]), eligible=bool(r["eligible"][i]))
        log.append({"method": method, **{k: v for k, v in t.items() if k != "params"}, **p})
        trials.append(t)
    return trials


def pick(trials: list[dict]):
    "Lowest validation SW2 among trials passing the memorisation guard (all trials if none passes): BandwidthSearch's rule, over both stages."
    pool = [t for t in trials if t["eligible"]] or trials
    return min(pool, key=lambda t: t["sw2_val"])["params"], not any(t["eligible"] for t in trials)


def evaluate(Z, X_train, X_test, mu, Sigma, cfg, seed):
    rep = memorisation_report(Z, X_train, X_test)
    me, ce = moment_errors(Z, mu, Sigma)
    scale = np.sqrt(np.diag(Sigma))  # KID on coordinates standardised by the training std (kernel scale ~ 1)
    kid, _ = kernel_inception_distance(Z / scale, X_test / scale, random_state=seed, **cfg["kid"])
    precision, recall = precision_recall(X_test, Z)
    density, coverage = density_coverage(X_test, Z)
    return dict(sw2_test=sliced_wasserstein(Z, X_test, cfg["n_projections"], random_state=0),
                sw2_train=sliced_wasserstein(Z, X_train, cfg["n_projections"], random_state=0),
                memorisation=rep["share"], memorisation_heldout=rep["share_heldout"],
                mean_error=me, cov_error=ce, kid=kid, precision=precision, recall=recall, density=density,
                coverage=coverage)


def dataset_block(name: str, cfg: dict, log_val: list, verbose=True):
    "Select on validation, run the test seeds, return per-method summaries for one data set."
    X_train, X_val, X_test = make_splits(name, cfg)
    mu = X_train.mean(0)
    Sigma = (X_train - mu).T @ (X_train - mu) / len(X_train)
    # finite-sample references: a fresh sample of the same size, scored exactly like a sampler
    ref = evaluate(X_val[: cfg["n_samples"]], X_train, X_test, mu, Sigma, cfg, seed=0)
    out = {"reference": {"params": {"what": "validation points (a perfect sampler's score)"},
                         **{k: [v] for k, v in ref.items()}, "cpu_seconds": [0.0]}}
    chosen = {}
    methods = cfg.get("methods", METHODS)
    if "MM-SOLD" in methods or "naive SOLD" in methods:
        # MM-SOLD: (delta, sigma) at the default step (0.1 x stability bound), then other step fractions
        # at the chosen pair; the best of all these trials wins
        tr = search("MM-SOLD", dict(delta=cfg["mmsold_grid"]["delta"], sigma=cfg["mmsold_grid"]["sigma"]),
                    X_train, X_val, cfg, log_val)
        p1, _ = pick(tr)
        tr += search("MM-SOLD", dict(delta=[p1["delta"]], sigma=[p1["sigma"]], step_fraction=cfg["step_fractions"]),
                     X_train, X_val, cfg, log_val)
        p, fallback = pick(tr)
        chosen["MM-SOLD"] = (p, sum(t["cpu_seconds"] for t in tr), fallback)
        chosen["naive SOLD"] = (p, 0.0, False)  # ablation: MM-SOLD's settings with the constraint switched off
    if "sigma-CFDM" in methods:
        tr = search("sigma-CFDM", dict(sigma=cfg["cfdm_grid"]), X_train, X_val, cfg, log_val)
        p, fallback = pick(tr)
        chosen["sigma-CFDM"] = (p, sum(t["cpu_seconds"] for t in tr), fallback)
    if HAS_TORCH and "DDPM" in methods:
        chosen["DDPM"] = ({}, 0.0, False)
    chosen = {m: v for m, v in chosen.items() if m in methods}
    for method, (params, tune_cpu, fallback) in chosen.items():
        per_seed = []
        for seed in cfg["seeds"]:
            Z, cpu, wall, model = run(method, params, X_train, cfg, seed, X_val=X_val)
            extra = {"n_iter": model.n_iter_, "best_iter": model.best_iter_} if method == "DDPM" else {}
            per_seed.append({**evaluate(Z, X_train, X_test, mu, Sigma, cfg, seed), "cpu_seconds": cpu,
                             "wall_seconds": wall, **extra})
        out[method] = {"params": params, "tuning_cpu_seconds": tune_cpu, "selection_fallback": fallback,
                       **{k: [r[k] for r in per_seed] for k in per_seed[0]}}
        if verbose:
            m = out[method]
            print(f"  {name:16s} {method:11s} SW2 test {np.mean(m['sw2_test']):.4f} +- {np.std(m['sw2_test']):.4f}"
                  f"  train {np.mean(m['sw2_train']):.4f}  memo {np.mean(m['memorisation']):.3f}"
                  f"  cov err {np.mean(m['cov_error']):.2e}  cpu {np.mean(m['cpu_seconds']):.1f} s  {params}",
                  flush=True)
    if verbose:
        print(f"  {name:16s} reference   SW2 test {ref['sw2_test']:.4f}  memo {ref['memorisation']:.3f}", flush=True)
    return out


COLUMNS = ["sw2_test", "sw2_train", "memorisation", "memorisation_heldout", "mean_error", "cov_error",
           "cpu_seconds", "kid", "precision", "recall", "density", "coverage"]


def _fmt_params(p):
    return "; ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in p.items())


def write_outputs(results: dict, cfg: dict, out_dir: Path, log_val: list, seconds: float):
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, block in results.items():
        for method, m in block.items():
            row = {"dataset": name, "method": method, "params": _fmt_params(m["params"]), "n_seeds": len(m["sw2_test"])}
            for c in COLUMNS:
                row[c] = float(np.mean(m[c]))
                row[c + "_sd"] = float(np.std(m[c]))
            row["tuning_cpu_seconds"] = float(m.get("tuning_cpu_seconds", 0.0))
            rows.append(row)
    with open(out_dir / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with open(out_dir / "results.json", "w") as f:
        json.dump({"settings": cfg, "has_torch": HAS_TORCH, "total_seconds": seconds, "results": results,
                   "validation_trials": log_val}, f, indent=1, default=float)
    with open(out_dir / "validation.csv", "w", newline="") as f:
        keys = sorted({k for r in log_val for k in r})
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(log_val)
    (out_dir / "results.md").write_text(markdown(rows, cfg))


def markdown(rows, cfg) -> str:
    methods = [m for m in ["reference"] + METHODS if any(r["method"] == m for r in rows)]
    lines = ["SW2 to the held-out test split (mean +- sd over seeds; lower is better; `reference` = fresh "
             "points from the same distribution):", "",
             "| data set | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for name in cfg["datasets"]:
        cells = []
        for m in methods:
            r = next((r for r in rows if r["dataset"] == name and r["method"] == m), None)
            cells.append("n/a" if r is None else f"{r['sw2_test']:.4f} +- {r['sw2_test_sd']:.4f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "All metrics (means over seeds):", "",
              "| data set | method | SW2 test | SW2 train | memorisation (held-out) | mean err | cov err | "
              "CPU s | KID | precision | recall | density | coverage | settings |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['method']} | {r['sw2_test']:.4f} | {r['sw2_train']:.4f} | "
                     f"{r['memorisation']:.3f} ({r['memorisation_heldout']:.3f}) | {r['mean_error']:.2e} | "
                     f"{r['cov_error']:.2e} | {r['cpu_seconds']:.1f} | {r['kid']:.4f} | {r['precision']:.3f} | "
                     f"{r['recall']:.3f} | {r['density']:.3f} | {r['coverage']:.3f} | {r['params']} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fast", action="store_true", help="tiny settings (for make test); writes to paper_figs/_fast/")
    ap.add_argument("--datasets", nargs="*", default=None, help=f"subset of {DATASETS}")
    ap.add_argument("--methods", nargs="*", default=None, help=f"subset of {METHODS}")
    ap.add_argument("--ddpm-iter", type=int, default=None, help="override the DDPM's number of Adam iterations")
    ap.add_argument("--out-dir", default=None, help="output directory (default: paper_figs/ or paper_figs/_fast/)")
    ap.add_argument("--merge", action="store_true",
                    help="keep the saved results.json's rows of the methods not rerun (e.g. --methods DDPM --merge retrains only the DDPM)")
    args = ap.parse_args(argv)
    cfg = settings(args.fast)
    if args.datasets:
        bad = [d for d in args.datasets if d not in DATASETS]
        if bad:
            ap.error(f"unknown data sets {bad}; valid: {DATASETS}")
        cfg["datasets"] = args.datasets
    if args.methods:
        bad = [m for m in args.methods if m not in METHODS]
        if bad:
            ap.error(f"unknown methods {bad}; valid: {METHODS}")
        cfg["methods"] = args.methods
    if args.ddpm_iter is not None:
        cfg["ddpm"]["n_iter"] = args.ddpm_iter
    out_dir = Path(args.out_dir) if args.out_dir else (HERE / "_fast" if args.fast else HERE)
    if not HAS_TORCH:
        print("PyTorch is not installed: the DDPM column is skipped (pip install mmsold[baselines]).")
    else:
        import torch  # noqa: F401  (imported once here so that no method's CPU seconds include the import)
    t0 = time.perf_counter()
    warm_up()
    results, log_val = {}, []
    for name in cfg["datasets"]:
        tic = time.perf_counter()
        log_name = []
        results[name] = dataset_block(name, cfg, log_name)
        log_val += [{"dataset": name, **r} for r in log_name]
        print(f"{name}: {time.perf_counter() - tic:.1f} s", flush=True)
    seconds = time.perf_counter() - t0
    if args.merge and (out_dir / "results.json").exists():
        saved = json.loads((out_dir / "results.json").read_text())
        rerun = set(cfg.get("methods", METHODS))
        for name, block in saved["results"].items():
            if name in results:
                results[name] = {**{m: v for m, v in block.items() if m not in rerun}, **results[name]}
                results[name] = {m: results[name][m] for m in ["reference"] + METHODS if m in results[name]}
            else:
                results[name] = block
        log_val = [r for r in saved["validation_trials"] if r["method"] not in rerun] + log_val
        cfg = {**saved["settings"], **{k: v for k, v in cfg.items() if k not in ("methods", "datasets")},
               "merged_runs": saved["settings"].get("merged_runs", []) + [dict(methods=sorted(rerun), seconds=seconds)]}
        seconds += saved["total_seconds"]
    write_outputs(results, cfg, out_dir, log_val, seconds)
    print(f"results_table: {seconds:.1f} s wall; wrote {out_dir / 'results.csv'}, results.json, results.md, validation.csv")


if __name__ == "__main__":
    main()
