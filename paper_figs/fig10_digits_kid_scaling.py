"""Fig. 10 (digits): KID against particle count (250..2,000) and against training-set size, MM-SOLD and kinetic MM-SOLD.

Digit 8, partially whitened PCA latent (95% variance, alpha = 1/2) refitted on each training set;
(delta, sigma) from `fig6_selected.json` (validation choice). KID in classifier features against
the 44 held-out test 8s; error bars = standard deviation over sampling seeds. Both samplers make the
same number T of score evaluations. Left: all 104 training 8s, P varies (P may exceed the number of
training images). Right: P = 500, random training subsets of size n (a new subset per seed).

    python paper_figs/fig10_digits_kid_scaling.py          # full: fig10_digits_kid_scaling.png + .json
    python paper_figs/fig10_digits_kid_scaling.py --fast   # small settings, writes to paper_figs/_fast/
"""
import argparse
import json
import time
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from mmsold.kinetic import KineticMMSOLD
from mmsold.latent import (DigitFeatures, PCALatent, class_images, digit_splits, evaluate_images, langevin_steps,
                           sample_images)
from mmsold.sampler import MMSOLD

HERE = Path(__file__).resolve().parent
DEFAULTS = {"delta": 0.5, "sigma": 1.0}


def main(fast=False):
    tic = time.perf_counter()
    out = HERE / "_fast" if fast else HERE   # _fast/ is git-ignored
    out.mkdir(exist_ok=True)
    f = HERE / "fig6_selected.json"
    sel = json.loads(f.read_text()) if f.exists() else dict(DEFAULTS)
    d, s = sel["delta"], sel["sigma"]
    Ps = [60, 120] if fast else [250, 500, 1000, 2000]
    Ns = [52, 104] if fast else [26, 52, 78, 104]
    P_fixed, seeds = (60, [0]) if fast else (500, [0, 1, 2])
    S = digit_splits(random_state=0)
    Xtr, Xte = class_images(S, 8, "train"), class_images(S, 8, "test")
    T = 30 if fast else langevin_steps(d, PCALatent().fit_transform(Xtr), time=8.0)
    feat = DigitFeatures().fit(S["X"][S["train"]], S["y"][S["train"]])
    makers = {"MM-SOLD": lambda: MMSOLD(delta=d, sigma=s, n_steps=T, n_neighbors=50, n_noise=4),
              "kinetic MM-SOLD": lambda: KineticMMSOLD(delta=d, sigma=s, n_steps=T, n_neighbors=50, n_noise=4)}
    res = {"P": {n: np.zeros((len(Ps), len(seeds))) for n in makers},
           "N": {n: np.zeros((len(Ns), len(seeds))) for n in makers}, "seconds": {n: {} for n in makers}}
    for name, make in makers.items():
        for i, P in enumerate(Ps):
            for j, seed in enumerate(seeds):
                imgs, info = sample_images(make(), Xtr, P, latent=PCALatent(), random_state=seed)
                res["P"][name][i, j] = evaluate_images(imgs, Xtr, Xte, feat, random_state=seed)["kid_feat"]
                res["seconds"][name][f"P={P}"] = info["seconds"]
            print(f"{name} P={P}: KID {res['P'][name][i].mean():.4f} +- {res['P'][name][i].std():.4f} "
                  f"({info['seconds']:.1f} s per run)", flush=True)
        for i, n in enumerate(Ns):
            for j, seed in enumerate(seeds):
                sub = Xtr[np.random.default_rng(100 + seed).choice(len(Xtr), n, replace=False)]
                imgs, _ = sample_images(make(), sub, P_fixed, latent=PCALatent(), random_state=seed)
                res["N"][name][i, j] = evaluate_images(imgs, sub, Xte, feat, random_state=seed)["kid_feat"]
            print(f"{name} n_train={n}: KID {res['N'][name][i].mean():.4f} +- {res['N'][name][i].std():.4f}", flush=True)
    real = evaluate_images(Xtr, Xtr, Xte, feat, random_state=0)["kid_feat"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, key, xs, xlabel in ((axes[0], "P", Ps, "number of particles P"), (axes[1], "N", Ns, "training-set size n")):
        for name, marker in zip(makers, "os"):
            A = res[key][name]
            ax.errorbar(xs, A.mean(1), yerr=A.std(1), marker=marker, capsize=3, label=name)
        ax.axhline(real, color="gray", ls="--", lw=1, label="training 8s themselves")
        ax.set_xlabel(xlabel); ax.set_ylabel("KID (classifier features) vs test 8s"); ax.legend(fontsize=8)
    axes[0].set_title(f"n = {len(Xtr)} training 8s, T = {T}", fontsize=9)
    axes[1].set_title(f"P = {P_fixed}, T = {T}", fontsize=9)
    fig.suptitle(f"digit 8, PCA latent, delta={d}, sigma={s}; mean +- std over {len(seeds)} seeds", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "fig10_digits_kid_scaling.png", dpi=130)
    js = {"delta": d, "sigma": s, "T": T, "seeds": seeds, "Ps": Ps, "Ns": Ns, "P_fixed": P_fixed,
          "kid_training_images": real,
          "kid_vs_P": {n: {"mean": v.mean(1).tolist(), "std": v.std(1).tolist()} for n, v in res["P"].items()},
          "kid_vs_N": {n: {"mean": v.mean(1).tolist(), "std": v.std(1).tolist()} for n, v in res["N"].items()},
          "seconds_per_run": res["seconds"]}
    (out / "fig10_digits_kid_scaling.json").write_text(json.dumps(js, indent=1))
    print(f"wrote {out / 'fig10_digits_kid_scaling.png'}; runtime {time.perf_counter() - tic:.1f} s")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="small settings, output to paper_figs/_fast/ (used by make test)")
    main(**vars(ap.parse_args()))
