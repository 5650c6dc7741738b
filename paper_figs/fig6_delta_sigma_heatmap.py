"""Fig. 6 (digits): MM-SOLD minus sigma-CFDM over a (delta, sigma) grid, on validation 8s; picks the bandwidths.

Every cell runs MM-SOLD(delta, sigma) and sigma-CFDM(sigma) (K = L = 50, 100 Euler steps) in the
partially whitened PCA latent of the training 8s and scores the decoded samples against the
*validation* 8s (never the test images). Panels: KID in classifier features, precision, recall
(MM-SOLD minus sigma-CFDM; blue = MM-SOLD better). MM-SOLD's step count T is set per delta so that
the integration time h T is the same (the default h scales like delta^2). The best cell for each
sampler by validation KID (features), averaged over seeds, among cells whose samples memorise at
most 10% (KID alone rewards copies), is written to `fig6_selected.json`, which the other digit
scripts read. `--replot` redraws the PNG from that file.

    python paper_figs/fig6_delta_sigma_heatmap.py          # full: writes fig6_digits_heatmap.png + json
    python paper_figs/fig6_delta_sigma_heatmap.py --fast   # small grid, writes to paper_figs/_fast/
"""
import argparse
import json
import time
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from mmsold.cfdm import SigmaCFDM
from mmsold.latent import (DigitFeatures, PCALatent, class_images, digit_splits, evaluate_images, langevin_steps,
                           sample_images)
from mmsold.sampler import MMSOLD

HERE = Path(__file__).resolve().parent
MAX_MEM = 0.1   # largest memorisation share a selected setting may have


def plot(sel, out):
    "Draw the three heatmaps from the grid stored in the selection dict (as written to fig6_selected.json)."
    g = sel["grid"]
    deltas, sigmas, P, t_total = g["deltas"], g["sigmas"], g["P"], g["time"]
    mm = {k: np.array(v) for k, v in g["mmsold"].items()}
    cf = {k: np.array(v) for k, v in g["cfdm"].items()}
    Ts, seeds = list(g["T"].values()), g["seeds"]
    keys = ("kid_feat", "precision", "recall")
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    for ax, k, name in zip(axes, keys, ("KID (classifier features)", "precision", "recall")):
        D = mm[k] - cf[k][None, :]
        lim = np.abs(D).max() or 1.0
        cmap = "RdBu_r" if k == "kid_feat" else "RdBu"   # blue = MM-SOLD better (lower KID, higher precision/recall)
        im = ax.imshow(D, cmap=cmap, vmin=-lim, vmax=lim, origin="lower")
        for (i, j), v in np.ndenumerate(D):
            ax.text(j, i, f"{v:+.3f}", ha="center", va="center", fontsize=8)
        ax.set_xticks(range(len(sigmas)), [str(s) for s in sigmas]); ax.set_yticks(range(len(deltas)), [str(d) for d in deltas])
        ax.set_xlabel("sigma"); ax.set_ylabel("delta"); ax.set_title(f"{name}: MM-SOLD - sigma-CFDM", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle(f"digit 8, PCA latent (k=23, alpha=1/2), validation 8s; P={P}, h T={t_total} (T={Ts}), seeds={len(seeds)}; "
                 f"blue = MM-SOLD better; selected: MM-SOLD delta={sel['delta']}, sigma={sel['sigma']}, "
                 f"sigma-CFDM sigma={sel['cfdm_sigma']}", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "fig6_digits_heatmap.png", dpi=130)


def main(fast=False, replot=False):
    if replot:   # redraw the committed figure from the committed grid, without sampling
        plot(json.loads((HERE / "fig6_selected.json").read_text()), HERE)
        return
    tic = time.perf_counter()
    out = HERE / "_fast" if fast else HERE   # _fast/ is git-ignored
    out.mkdir(exist_ok=True)
    deltas = [0.5, 1.0] if fast else [0.25, 0.5, 1.0, 2.0]
    sigmas = [0.0, 1.0] if fast else [0.0, 0.5, 0.75, 1.0, 2.0]
    seeds = [0] if fast else [0, 1]
    P, t_total, T_cfdm = (100, 0.5, 20) if fast else (200, 8.0, 100)
    S = digit_splits(random_state=0)
    Xtr, Xva = class_images(S, 8, "train"), class_images(S, 8, "val")
    feat = DigitFeatures().fit(S["X"][S["train"]], S["y"][S["train"]])
    # same integration time h T for every delta (the default step h scales like delta^2)
    Ts = [langevin_steps(d, PCALatent().fit_transform(Xtr), time=t_total, minimum=20 if fast else 100) for d in deltas]
    keys = ("kid_feat", "precision", "recall", "mem_share")
    mm = {k: np.zeros((len(deltas), len(sigmas))) for k in keys}
    cf = {k: np.zeros(len(sigmas)) for k in keys}
    for j, s in enumerate(sigmas):
        for seed in seeds:
            imgs, _ = sample_images(SigmaCFDM(sigma=s, n_steps=T_cfdm, n_neighbors=50, n_remainder=50), Xtr, P,
                                    latent=PCALatent(), random_state=seed)
            r = evaluate_images(imgs, Xtr, Xva, feat, random_state=seed)
            for k in keys:
                cf[k][j] += r[k] / len(seeds)
        for i, d in enumerate(deltas):
            for seed in seeds:
                imgs, _ = sample_images(MMSOLD(delta=d, sigma=s, n_steps=Ts[i], n_neighbors=50, n_noise=4), Xtr, P,
                                        latent=PCALatent(), random_state=seed)
                r = evaluate_images(imgs, Xtr, Xva, feat, random_state=seed)
                for k in keys:
                    mm[k][i, j] += r[k] / len(seeds)
            print(f"delta={d} sigma={s}: MM-SOLD KID {mm['kid_feat'][i, j]:.4f} mem {mm['mem_share'][i, j]:.2f}; "
                  f"sigma-CFDM KID {cf['kid_feat'][j]:.4f} mem {cf['mem_share'][j]:.2f}", flush=True)
    # KID alone rewards copying training images, so only cells that memorise little are eligible
    ok_mm = np.where(mm["mem_share"] <= MAX_MEM, mm["kid_feat"], np.inf)
    ok_cf = np.where(cf["mem_share"] <= MAX_MEM, cf["kid_feat"], np.inf)
    i, j = np.unravel_index(np.argmin(ok_mm), ok_mm.shape)
    sel = {"delta": deltas[i], "sigma": sigmas[j], "cfdm_sigma": sigmas[int(np.argmin(ok_cf))],
           "criterion": f"lowest validation KID (classifier features), mean over seeds, among cells with "
                        f"memorisation share <= {MAX_MEM}",
           "grid": {"deltas": deltas, "sigmas": sigmas, "seeds": seeds, "P": P, "T": dict(zip(map(str, deltas), Ts)), "time": t_total,
                    "mmsold": {k: v.tolist() for k, v in mm.items()}, "cfdm": {k: v.tolist() for k, v in cf.items()}}}
    (out / "fig6_selected.json").write_text(json.dumps(sel, indent=1))
    plot(sel, out)
    print(f"selected: MM-SOLD delta={sel['delta']}, sigma={sel['sigma']}; sigma-CFDM sigma={sel['cfdm_sigma']}")
    print(f"wrote {out / 'fig6_digits_heatmap.png'}; runtime {time.perf_counter() - tic:.1f} s")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="small grid, output to paper_figs/_fast/ (used by make test)")
    ap.add_argument("--replot", action="store_true", help="only redraw the PNG from fig6_selected.json")
    main(**vars(ap.parse_args()))
