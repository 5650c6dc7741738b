"""Fig. 3 (digits): real 8s, latent DDPM, sigma-CFDM and MM-SOLD grids, nearest-training-image figure, and the numbers.

All samplers run in the partially whitened PCA latent of the 104 training 8s (k = 23, alpha = 1/2)
and are scored on the 44 held-out *test* 8s. Bandwidths come from `fig6_selected.json` (chosen on
validation images by fig6_delta_sigma_heatmap.py); naive SOLD and kinetic MM-SOLD use the same
(delta, sigma, T) as MM-SOLD ("matched settings"). Numbers: mean and standard deviation over
sampling seeds, plus the mean over seeds of KID's own spread over subsets.

    python paper_figs/fig3_digits_samples.py          # full: fig3_digits_grids.png, fig3_digits_nearest.png, fig3_digits_numbers.{json,md}
    python paper_figs/fig3_digits_samples.py --fast   # small settings, writes to paper_figs/_fast/
"""
import argparse
import json
import sys
import time
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from mmsold.cfdm import SigmaCFDM
from mmsold.ddpm import HAS_TORCH
from mmsold.kinetic import KineticMMSOLD
from mmsold.latent import (DigitFeatures, PCALatent, class_images, digit_splits, evaluate_images, langevin_steps,
                           nearest_training_pairs, plot_image_grid, sample_images)
from mmsold.sampler import MMSOLD

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from results_table import CONVERGED_DDPM  # noqa: E402  (the converged 2D recipe)

# The converged recipe without its random Fourier features: in this 23-dim latent a frequency vector
# b ~ N(0, I) has |b| ~ 4.8, so sin(2 pi b.x) wraps about five times across the data, a nearly random
# feature for a network fitted on 104 points; the EMA, cosine learning rate and early stopping are kept.
DIGITS_DDPM = {**CONVERGED_DDPM, "fourier_features": 0}


class ValidatedDDPM:
    "A DDPM whose `fit(Z)` early-stops on validation images encoded by the same latent (fitted by then)."

    def __init__(self, model, latent, X_val):
        self.model, self.latent, self.X_val = model, latent, X_val

    def fit(self, Z):
        self.model.fit(Z, X_val=self.latent.encode(self.X_val))
        return self

    def sample(self, n, random_state=None):
        return self.model.sample(n, random_state=random_state)
DEFAULTS = {"delta": 0.5, "sigma": 1.0, "cfdm_sigma": 0.5}   # used only if fig6_selected.json is missing
SECOND = (0.5, 1.0)   # (delta, sigma) of the second, non-validated matched pair


def selected():
    f = HERE / "fig6_selected.json"
    return json.loads(f.read_text()) if f.exists() else dict(DEFAULTS)


def samplers(sel, T, T2, fast):
    d, s = sel["delta"], sel["sigma"]
    d2, s2 = SECOND
    out = {"MM-SOLD": lambda seed: MMSOLD(delta=d, sigma=s, n_steps=T, n_neighbors=50, n_noise=4),
           "naive SOLD": lambda seed: MMSOLD(delta=d, sigma=s, n_steps=T, n_neighbors=50, n_noise=4, moment_match=False),
           "kinetic MM-SOLD": lambda seed: KineticMMSOLD(delta=d, sigma=s, n_steps=T, n_neighbors=50, n_noise=4),
           "sigma-CFDM": lambda seed: SigmaCFDM(sigma=sel["cfdm_sigma"], n_steps=20 if fast else 100, n_neighbors=50,
                                           n_remainder=50),
           # not chosen on validation: a second matched pair with score smoothing on, and the
           # memorising end of sigma-CFDM, to show what a near-copy looks like
           f"MM-SOLD (delta={d2}, sigma={s2})": lambda seed: MMSOLD(delta=d2, sigma=s2, n_steps=T2, n_neighbors=50, n_noise=4),
           f"naive SOLD (delta={d2}, sigma={s2})": lambda seed: MMSOLD(delta=d2, sigma=s2, n_steps=T2, n_neighbors=50, n_noise=4,
                                                                   moment_match=False),
           "sigma-CFDM (sigma=0)": lambda seed: SigmaCFDM(sigma=0.0, n_steps=20 if fast else 100, n_neighbors=50, n_remainder=50)}
    if HAS_TORCH and not fast:   # the fast mode skips the DDPM (importing and training torch dominates its time)
        from mmsold.ddpm import DDPM
        out["DDPM"] = lambda seed: DDPM(**DIGITS_DDPM, random_state=seed)
        # the earlier fixed-budget baseline (cosine learning rate annealed to 0 at 3,000 iterations, no EMA, no
        # early stopping), kept beside it: on 104 training points the early-stopped model is not the better sampler
        out["DDPM (fixed 3,000 iterations)"] = lambda seed: DDPM(n_iter=3000, n_train_steps=1000, n_sample_steps=100,
                                                                random_state=seed)
    return out


def main(fast=False):
    tic = time.perf_counter()
    out = HERE / "_fast" if fast else HERE   # _fast/ is git-ignored
    out.mkdir(exist_ok=True)
    sel = selected()
    P, seeds = (100, [0]) if fast else (500, [0, 1, 2])
    S = digit_splits(random_state=0)
    Xtr, Xva, Xte = (class_images(S, 8, p) for p in ("train", "val", "test"))
    T = 40 if fast else langevin_steps(sel["delta"], PCALatent().fit_transform(Xtr), time=8.0)
    T2 = 40 if fast else langevin_steps(SECOND[0], PCALatent().fit_transform(Xtr), time=8.0)
    feat = DigitFeatures().fit(S["X"][S["train"]], S["y"][S["train"]])
    acc = feat.score(S["X"][S["test"]], S["y"][S["test"]])
    rows, first = {}, {}
    # real-data references: training images and validation images scored like samples
    for name, A in (("real: training 8s", Xtr), ("real: validation 8s", Xva)):
        rows[name] = {k: [v] for k, v in evaluate_images(A, Xtr, Xte, feat, random_state=0).items()}
    for name, make in samplers(sel, T, T2, fast).items():
        rows[name] = {}
        secs = []
        for seed in seeds:
            lat, est = PCALatent(), make(seed)
            if name == "DDPM":   # early stopping on the validation 8s, in the latent fitted on the training 8s
                est = ValidatedDDPM(est, lat, Xva)
            imgs, info = sample_images(est, Xtr, P, latent=lat, random_state=seed)
            secs.append(info["seconds"])
            if name == "DDPM":
                rows[name].setdefault("n_iter", []).append(est.model.n_iter_)
                rows[name].setdefault("best_iter", []).append(est.model.best_iter_)
            first.setdefault(name, imgs)
            for k, v in evaluate_images(imgs, Xtr, Xte, feat, random_state=seed).items():
                rows[name].setdefault(k, []).append(v)
        rows[name]["seconds"] = secs
        print(f"{name}: KID(features) {np.mean(rows[name]['kid_feat']):.4f} +- {np.std(rows[name]['kid_feat']):.4f} "
              f"over seeds; memorised {np.mean(rows[name]['mem_share']):.3f}; {np.mean(secs):.1f} s per run", flush=True)
    summary = {name: {k: {"mean": float(np.mean(v)), "std_over_seeds": float(np.std(v))} for k, v in r.items()}
               for name, r in rows.items()}
    meta = {"selected": {k: sel[k] for k in ("delta", "sigma", "cfdm_sigma")}, "P": P, "T": T, "seeds": seeds,
            "second_pair": {"delta": SECOND[0], "sigma": SECOND[1], "T": T2},
            "n_train": len(Xtr), "n_val": len(Xva), "n_test": len(Xte), "latent_dim": PCALatent().fit(Xtr).n_components_,
            "classifier_test_accuracy_all_classes": acc, "has_torch": HAS_TORCH}
    lines = [f"Digit 8, PCA latent k={meta['latent_dim']} (alpha=1/2), {len(Xtr)} training / {len(Xte)} test images; "
             f"P={P} samples, T={T} steps, seeds {seeds}; MM-SOLD/SOLD/kinetic delta={sel['delta']}, sigma={sel['sigma']}; "
             f"sigma-CFDM sigma={sel['cfdm_sigma']}, K=L=50 (bandwidths chosen on validation 8s). Rows with bandwidths in the "
             f"name were not chosen on validation (second pair: T={T2}). Feature classifier test accuracy {acc:.3f}.",
             "Values: mean +- std over seeds; [mean KID spread over 100 subsets of 44].", "",
             "| sampler | KID features | KID pixels | precision | recall | memorised (test 8s' own share) | s/run |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in summary.items():
        f = lambda k: f"{r[k]['mean']:.4f} +- {r[k]['std_over_seeds']:.4f} [{r[k + '_std']['mean']:.3f}]"
        sec = f"{r['seconds']['mean']:.1f}" if "seconds" in r else "-"
        lines.append(f"| {name} | {f('kid_feat')} | {f('kid_pix')} | {r['precision']['mean']:.2f} | {r['recall']['mean']:.2f} "
                     f"| {r['mem_share']['mean']:.3f} ({r['mem_share_ref']['mean']:.3f}) | {sec} |")
    if "DDPM" in summary:
        lines += ["", f"DDPM: {DIGITS_DDPM['hidden']} x {DIGITS_DDPM['n_layers']} MLP, EMA {DIGITS_DDPM['ema_decay']}, cosine learning "
                  f"rate from {DIGITS_DDPM['lr']:g} over a budget of {DIGITS_DDPM['n_iter']:,} iterations, early-stopped on the "
                  f"validation 8s (patience {DIGITS_DDPM['patience']} evaluations every {DIGITS_DDPM['eval_every']}); stopped "
                  f"after {', '.join(str(int(v)) for v in rows['DDPM']['n_iter'])} iterations (best "
                  f"{', '.join(str(int(v)) for v in rows['DDPM']['best_iter'])}) over the seeds."]
    meta["ddpm"] = DIGITS_DDPM if "DDPM" in summary else None
    (out / "fig3_digits_numbers.json").write_text(json.dumps({"meta": meta, "results": summary}, indent=1))
    (out / "fig3_digits_numbers.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    # Fig. 3: grids of the first 36 images of seed 0, memorised samples framed in red
    panels = [("real (held-out test 8s)", Xte[:36])] + [(n, first[n][:36]) for n in ("DDPM", "sigma-CFDM", "MM-SOLD") if n in first]
    fig, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels), 3.3))
    for ax, (name, A) in zip(axes, panels):
        _, ratio = nearest_training_pairs(A, Xtr)
        plot_image_grid(ax, A, ncol=6, flags=ratio < 1 / 3, title=f"{name}\n{int(np.sum(ratio < 1 / 3))} of {len(A)} memorised (red)")
    fig.suptitle("digit 8 (scikit-learn 8x8), PCA latent; red frame = nearest training image < 1/3 of the 2nd nearest", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "fig3_digits_grids.png", dpi=130)

    # each sample next to its nearest training image (first 12 samples per sampler, no selection)
    names = [n for n in ("MM-SOLD", "sigma-CFDM", "DDPM", "naive SOLD", "sigma-CFDM (sigma=0)") if n in first]
    fig, axes = plt.subplots(len(names), 1, figsize=(6.5, 1.55 * len(names)))
    for ax, n in zip(np.atleast_1d(axes), names):
        A = first[n][:12]
        idx, ratio = nearest_training_pairs(A, Xtr)
        plot_image_grid(ax, np.vstack([A, Xtr[idx]]), ncol=12, flags=np.tile(ratio < 1 / 3, 2))
        ax.set_title(f"{n}: samples (top), nearest training image (bottom); d1/d2 =\n" + " ".join(f"{x:.2f}" for x in ratio),
                     fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "fig3_digits_nearest.png", dpi=130)
    print(f"wrote {out}/fig3_digits_*.png; runtime {time.perf_counter() - tic:.1f} s")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="small settings, output to paper_figs/_fast/ (used by make test)")
    main(**vars(ap.parse_args()))
