"""Fig. 5 (digits): MM-SOLD sample grids over the smoothing bandwidths (delta rows, sigma columns).

Digit 8, partially whitened PCA latent of the 104 training 8s. Each panel shows the first 25 of
P = 200 particles after T steps, T chosen so that h T = 8 (h = MM-SOLD's default step), in the order returned (no selection); red frames mark
memorised samples (nearest training image closer than 1/3 of the second nearest).

    python paper_figs/fig5_digits_bandwidths.py          # full: fig5_digits_bandwidths.png
    python paper_figs/fig5_digits_bandwidths.py --fast   # 2 x 2 panels, writes to paper_figs/_fast/
"""
import argparse
import time
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from mmsold.latent import (PCALatent, class_images, digit_splits, langevin_steps, nearest_training_pairs, plot_image_grid,
                           sample_images)
from mmsold.sampler import MMSOLD

HERE = Path(__file__).resolve().parent


def main(fast=False):
    tic = time.perf_counter()
    out = HERE / "_fast" if fast else HERE   # _fast/ is git-ignored
    out.mkdir(exist_ok=True)
    deltas = [0.25, 2.0] if fast else [0.25, 0.5, 1.0, 2.0]
    sigmas = [0.0, 1.0] if fast else [0.0, 0.5, 1.0, 2.0]
    P, t_total = (40, 0.5) if fast else (200, 8.0)
    Xtr = class_images(digit_splits(random_state=0), 8, "train")
    fig, axes = plt.subplots(len(deltas), len(sigmas), figsize=(2.6 * len(sigmas), 2.8 * len(deltas)))
    for i, d in enumerate(deltas):
        T = langevin_steps(d, PCALatent().fit_transform(Xtr), time=t_total, minimum=20 if fast else 100)
        for j, s in enumerate(sigmas):
            imgs, _ = sample_images(MMSOLD(delta=d, sigma=s, n_steps=T, n_neighbors=50, n_noise=4), Xtr, P,
                                    latent=PCALatent(), random_state=0)
            _, ratio = nearest_training_pairs(imgs, Xtr)
            plot_image_grid(axes[i, j], imgs[:25], ncol=5, flags=ratio[:25] < 1 / 3,
                            title=f"delta={d}, sigma={s}, T={T}\nmemorised {np.mean(ratio < 1 / 3):.2f}")
        print(f"delta={d} done", flush=True)
    fig.suptitle(f"MM-SOLD, digit 8, PCA latent (k=23, alpha=1/2), P={P}, h T={t_total}; red = memorised", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "fig5_digits_bandwidths.png", dpi=120)
    print(f"wrote {out / 'fig5_digits_bandwidths.png'}; runtime {time.perf_counter() - tic:.1f} s")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="small settings, output to paper_figs/_fast/ (used by make test)")
    main(**vars(ap.parse_args()))
