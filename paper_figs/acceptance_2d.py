"""Issue-2 acceptance numbers: MM-SOLD vs naive SOLD on the checkerboard and two spirals.

Settings (delta, sigma) are chosen on *validation* held-out sets; the numbers reported are on
separate *test* held-out sets. SW2 is averaged over the held-out sets and compared with the
finite-sample reference SW2(train, held-out), what a perfect sampler scores at the same sizes.

    python paper_figs/acceptance_2d.py          # full: N = P = 2000, writes acceptance_2d.{json,png}
    python paper_figs/acceptance_2d.py --fast   # smoke test (small sizes), writes to paper_figs/_fast/
"""
import argparse
import itertools
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from mmsold.datasets import load_toy
from mmsold.metrics import memorisation_report, moment_errors, sliced_wasserstein
from mmsold.sampler import MMSOLD

HERE = Path(__file__).resolve().parent


def mean_sw2(Z, sets, n_projections):
    return float(np.mean([sliced_wasserstein(Z, H, n_projections=n_projections, random_state=k)
                          for k, H in enumerate(sets)]))


def run(fast: bool):
    N = P = 300 if fast else 2000
    n_val, n_test = (2, 2) if fast else (3, 5)
    n_proj = 64 if fast else 500
    base = dict(n_steps=60 if fast else 500, n_neighbors=16, n_noise=4, integrator="lm")
    grid = [(0.2, 0.2)] if fast else list(itertools.product((0.1, 0.2, 0.3), (0.1, 0.2, 0.4)))
    results = {"settings": {"N": N, "P": P, "validation_sets": n_val, "test_sets": n_test,
                            "n_projections": n_proj, **base, "grid_delta_sigma": grid}, "datasets": {}}
    samples = {}
    for name in ("checkerboard", "two_spirals"):
        X = load_toy(name, N, random_state=0)
        val = [load_toy(name, P, random_state=100 + k) for k in range(n_val)]
        test = [load_toy(name, P, random_state=200 + k) for k in range(n_test)]
        scores = {}
        for (delta, sigma), mm in itertools.product(grid, (True, False)):
            Z = MMSOLD(delta=delta, sigma=sigma, moment_match=mm, random_state=1, **base).fit(X).sample(P)
            scores[(delta, sigma, mm)] = mean_sw2(Z, val, n_proj)
        best = {mm: min((k for k in scores if k[2] == mm), key=scores.get) for mm in (True, False)}
        row = {"reference_sw2": mean_sw2(X, test, n_proj),
               "validation_sw2": {f"delta={k[0]},sigma={k[1]},{'MM' if k[2] else 'naive'}": v
                                  for k, v in scores.items()}}
        runs = {"MM-SOLD": best[True], "naive SOLD (its own best)": best[False],
                "naive SOLD (MM-SOLD's settings)": (best[True][0], best[True][1], False)}
        for label, (delta, sigma, mm) in runs.items():
            est = MMSOLD(delta=delta, sigma=sigma, moment_match=mm, random_state=2, **base).fit(X)
            t0 = time.perf_counter()
            Z = est.sample(P)
            secs = time.perf_counter() - t0
            me, ce = moment_errors(Z, est.mean_, est.covariance_)
            sw = mean_sw2(Z, test, n_proj)
            mem = memorisation_report(Z, X, test[0])
            row[label] = {"delta": delta, "sigma": sigma, "sw2": sw, "sw2_over_reference": sw / row["reference_sw2"],
                          # median distance to the nearest training point over the training points' own median
                          "nn_distance_ratio": mem["median_nn"] / mem["median_nn_train"],
                          "memorisation_share": mem["share"],
                          "mean_error_rel": me / np.sqrt(np.linalg.eigvalsh(est.covariance_)[-1]),
                          "cov_error_rel": ce, "seconds": secs, "step_size": est.step_size_}
            samples[(name, label)] = Z
        row["heldout_memorisation_share"] = mem["share_heldout"]
        row["heldout_nn_distance_ratio"] = mem["median_nn_heldout"] / mem["median_nn_train"]
        samples[(name, "train")] = X
        results["datasets"][name] = row
    return results, samples


def report(results):
    lines = ["| data set | method | delta | sigma | SW2 (test) | / reference | NN-distance ratio | memorised | moment error (mean, cov) | seconds |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, row in results["datasets"].items():
        lines.append(f"| {name} | reference SW2(train, held-out) | | | {row['reference_sw2']:.4f} | 1.00 | "
                     f"{row['heldout_nn_distance_ratio']:.2f} (held-out) | {row['heldout_memorisation_share']:.3f} (held-out) | | |")
        for label in ("MM-SOLD", "naive SOLD (MM-SOLD's settings)", "naive SOLD (its own best)"):
            r = row[label]
            lines.append(f"| {name} | {label} | {r['delta']} | {r['sigma']} | {r['sw2']:.4f} | {r['sw2_over_reference']:.3f} | "
                         f"{r['nn_distance_ratio']:.2f} | {r['memorisation_share']:.3f} | {r['mean_error_rel']:.1e}, "
                         f"{r['cov_error_rel']:.1e} | {r['seconds']:.1f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fast", action="store_true", help="small smoke-test settings; outputs go to paper_figs/_fast/")
    args = ap.parse_args(argv)
    out = HERE / "_fast" if args.fast else HERE
    out.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    results, samples = run(args.fast)
    results["total_seconds"] = time.perf_counter() - t0
    (out / "acceptance_2d.json").write_text(json.dumps(results, indent=1))
    (out / "acceptance_2d.md").write_text(report(results) + "\n")
    fig, axs = plt.subplots(2, 3, figsize=(10, 6.6), sharex="row", sharey="row")
    for i, name in enumerate(results["datasets"]):
        for ax, label in zip(axs[i], ("train", "MM-SOLD", "naive SOLD (MM-SOLD's settings)")):
            ax.scatter(*samples[(name, label)].T, s=0.6, alpha=0.5, color="C0" if label != "train" else "k")
            sub = "" if label == "train" else f"\nSW2 {results['datasets'][name][label]['sw2_over_reference']:.2f} x reference"
            ax.set_title(f"{name}: {label}{sub}", fontsize=9); ax.set_aspect("equal")
    plt.tight_layout(); fig.savefig(out / "acceptance_2d.png", dpi=110); plt.close(fig)
    print(report(results))
    print(f"total {results['total_seconds']:.1f} s -> {out / 'acceptance_2d.json'}")


if __name__ == "__main__":
    main()
