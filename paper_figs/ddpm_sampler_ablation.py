#!/usr/bin/env python
"""Is the 2D DDPM's smearing a sampling error or a learning error? (issue 14, diagnosis)

One DDPM per data set (the default `mmsold.ddpm.DDPM`: 3 x 128 MLP, 3,000 Adam iterations, seed 0) on
the splits of `results_table.py`; the same 1,000 starting noises are then sampled five ways and scored
against the test split (SW2 with 500 projections, ratio to the finite-sample reference SW2(validation,
test); precision / recall with k = 3):
DDIM with 100 steps and clip_x0 = 5 (the default), without the clip, DDIM with all 1,000 steps,
ancestral DDPM sampling with all 1,000 steps, and -- as the control -- DDIM-100 driven by the exact
noise prediction of the training points' Gaussian diffusion (no network). If the control is accurate
while every sampler on the network is not, the error is in the learned noise prediction.

    python paper_figs/ddpm_sampler_ablation.py          # about 6 minutes on one core; writes ddpm_sampler_ablation.md
    python paper_figs/ddpm_sampler_ablation.py --fast   # tiny (< 30 s), writes paper_figs/_fast/
"""
from __future__ import annotations

import _cpu  # noqa: E402,F401  (before NumPy/torch: one BLAS thread, torch CPU kernels pinned; see _cpu.py)

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from mmsold.ddpm import DDPM, HAS_TORCH, ddim_sample, ddim_timesteps  # noqa: E402
from mmsold.metrics import precision_recall, sliced_wasserstein  # noqa: E402
from results_table import make_splits, settings  # noqa: E402


def ancestral(eps_fn, xT, betas, abar, rng):
    "Ancestral DDPM sampling over all training steps (posterior variance beta_t (1 - abar_{t-1}) / (1 - abar_t))."
    x = xT.copy()
    for t in range(len(betas) - 1, -1, -1):
        x = (x - betas[t] / np.sqrt(1 - abar[t]) * eps_fn(x, t)) / np.sqrt(1 - betas[t])
        if t > 0:
            x = x + np.sqrt(betas[t] * (1 - abar[t - 1]) / (1 - abar[t])) * rng.standard_normal(x.shape)
    return x


def exact_eps(Xs, abar):
    "Noise prediction of the exact diffusion of the empirical distribution of Xs (standardised units)."
    def eps(x, t):
        a = abar[t]
        d = x[:, None, :] - np.sqrt(a) * Xs[None]
        lw = -np.sum(d ** 2, -1) / (2 * (1 - a))
        w = np.exp(lw - lw.max(1, keepdims=True))
        w /= w.sum(1, keepdims=True)
        return np.einsum("qn,qnd->qd", w, d) / np.sqrt(1 - a)
    return eps


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true")
    args = ap.parse_args(argv)
    if not HAS_TORCH:
        print("skipped: PyTorch is not installed (pip install mmsold[baselines])")
        return 0
    import torch
    torch.set_num_threads(1)
    out_dir = HERE / "_fast" if args.fast else HERE
    out_dir.mkdir(exist_ok=True)
    n_iter, n_proj, n = (200, 64, 200) if args.fast else (3000, 500, 1000)
    lines = ["| data | sampler | SW2 | ratio to reference | precision | recall |", "| --- | --- | --- | --- | --- | --- |"]
    for name in ("checkerboard", "two_spirals"):
        Xtr, Xv, Xte = make_splits(name, settings(fast=False))
        ref = sliced_wasserstein(Xv, Xte, n_proj, random_state=0)
        c0 = time.process_time()
        m = DDPM(random_state=0, hidden=128, n_layers=3, n_iter=n_iter).fit(Xtr)
        print(f"{name}: reference SW2 {ref:.4f}, fit {time.process_time() - c0:.1f} CPU s", flush=True)
        lines.append(f"| {name} | reference (validation points) | {ref:.4f} | 1.00 | | |")

        def net_eps(x, t):
            with torch.no_grad():
                return m.net_(torch.cat([torch.from_numpy(x), m.emb_table_[t].expand(len(x), -1)], 1)).numpy()
        abar = m.alphas_cumprod_
        betas = 1 - abar / np.concatenate([[1.0], abar[:-1]])   # the schedule's betas, recovered from abar
        xT = np.random.default_rng(100).standard_normal((n, 2))
        runs = [("DDIM 100, clip_x0 = 5 (default)", lambda: ddim_sample(net_eps, xT, abar, ddim_timesteps(1000, 100), 5.0)),
                ("DDIM 100, no clip", lambda: ddim_sample(net_eps, xT, abar, ddim_timesteps(1000, 100), None)),
                ("DDIM 1000, no clip", lambda: ddim_sample(net_eps, xT, abar, ddim_timesteps(1000, 1000), None)),
                ("ancestral, 1000 steps", lambda: ancestral(net_eps, xT, betas, abar, np.random.default_rng(7))),
                ("control: exact noise of the training points, DDIM 100",
                 lambda: ddim_sample(exact_eps((Xtr - m.mean_) / m.scale_, abar), xT, abar, ddim_timesteps(1000, 100), 5.0))]
        for label, run in runs:
            Z = run() * m.scale_ + m.mean_
            sw = sliced_wasserstein(Z, Xte, n_proj, random_state=0)
            p, r = precision_recall(Xte, Z)
            lines.append(f"| {name} | {label} | {sw:.4f} | {sw / ref:.2f} | {p:.2f} | {r:.2f} |")
            print(lines[-1], flush=True)
    (out_dir / "ddpm_sampler_ablation.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out_dir}/ddpm_sampler_ablation.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
