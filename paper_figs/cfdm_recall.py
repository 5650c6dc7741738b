#!/usr/bin/env python
"""Why sigma-CFDM loses recall in the Fashion-MNIST AE latent (issue 14: the heatmap's recall collapse).

sigma-CFDM's velocity uses the posterior mean with its weights taken at perturbed points,
m_t^sigma(z) = (1/M) sum_j m_t(z + sigma eps_j). One explanation of a recall collapse: near t = 1 each
m_t(y) is close to the training point nearest y, so if the perturbation's length sigma sqrt(d) is large
against the spacing of the training latents, m^sigma averages M different training points and the cloud
contracts as M grows. Another: the K = L = 50 nearest-plus-remainder estimate of m_t (the paper's
estimator, used in every CFDM run) is biased in this latent. This script measures both, in the data,
latent and sampler settings of `fig7_fashion_heatmap.py` (models from fig4_fashion.py's cache):

- sigma sqrt(d) against the median nearest-neighbour distance among the training latents, and the
  number of distinct nearest training points among M perturbed copies of a training latent;
- full sigma-CFDM runs (100 Euler steps, P particles) with the exact softmax over all N training latents
  and with the K = L = 50 estimator, for sigma = 0 and several (sigma, M): the samples' total variance
  over the training latents' (tr cov), and their median distance to the nearest training latent.

    python paper_figs/cfdm_recall.py          # full (P = 300; about 8 CPU minutes)
    python paper_figs/cfdm_recall.py --fast   # tiny, writes paper_figs/_fast/
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

from _script import output_dir, skip_without_torch  # noqa: E402
from fig4_fashion import build_models, load_or_skip, settings as fig4_settings  # noqa: E402
from mmsold.cfdm import SigmaCFDM  # noqa: E402


def distinct_nearest(W, nn, sigma, M, n_points, rng):
    "Mean number of distinct nearest training latents among M perturbed copies w + sigma eps of training latents w."
    base = W[rng.choice(len(W), n_points, replace=False)]
    Y = (base[:, None, :] + sigma * rng.standard_normal((n_points, M, W.shape[1]))).reshape(-1, W.shape[1])
    idx = nn.kneighbors(Y, n_neighbors=1, return_distance=False).reshape(n_points, M)
    return float(np.mean([len(set(r)) for r in idx]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true")
    ap.add_argument("--cache-dir", default="default")
    args = ap.parse_args(argv)
    out_dir = output_dir(args.fast)
    if skip_without_torch():
        return 0
    cfg = fig4_settings(args.fast)
    cfg["latents"] = ["AE"]
    P = 60 if args.fast else 300
    # (K nearest or None = exact softmax, sigma, M, Euler steps)
    cells = ([(None, 0.0, 1, 10), (None, 0.0, 1, 40), (50, 0.0, 1, 10), (50, 1.0, 4, 10)] if args.fast else
             [(None, 0.0, 1, 100), (None, 1.0, 2, 100),
              (50, 0.0, 1, 100), (50, 1.0, 1, 100), (50, 1.0, 2, 100), (50, 1.0, 8, 100), (50, 2.0, 8, 100)])
    tic = time.perf_counter()
    data = load_or_skip(cfg)
    if data is None:
        return 0
    X_train, y_train, _, _, _ = data
    _, lat, _ = build_models(cfg, X_train, y_train, args.cache_dir)
    W = lat["AE"].W_train
    from sklearn.neighbors import NearestNeighbors
    nn = NearestNeighbors(n_neighbors=2).fit(W)
    d_nn = float(np.median(nn.kneighbors(W[:2000], n_neighbors=2)[0][:, 1]))
    tr_data = float(np.trace(np.cov(W.T)))
    rng = np.random.default_rng(0)
    rows = []
    for K, sigma, M, n_steps in cells:
        estimator = "exact" if K is None else f"K = L = {K}"
        c0 = time.process_time()
        Z = SigmaCFDM(sigma=sigma, n_steps=n_steps, n_neighbors=K, n_remainder=50, n_noise=M,
                      random_state=0).fit(W).sample(P)
        cpu = time.process_time() - c0
        dist = nn.kneighbors(Z, n_neighbors=1)[0][:, 0]
        rows.append(dict(estimator=estimator, sigma=sigma, M=M, n_steps=n_steps, perturbation_length=sigma * np.sqrt(W.shape[1]),
                         distinct_nearest=distinct_nearest(W, nn, sigma, M, 500, rng),
                         variance_ratio=float(np.trace(np.cov(Z.T)) / tr_data),
                         median_nn_train=float(np.median(dist)), cpu_seconds=cpu))
        print(rows[-1], flush=True)
    lines = [f"sigma-CFDM in the Fashion-MNIST AE latent (d = {W.shape[1]}, N = {len(W)}): median nearest-neighbour "
             f"distance among training latents {d_nn:.2f}; P = {P}, uniform Euler steps from t0 = 0.", "",
             "| softmax | sigma | M | Euler steps | sigma sqrt(d) | distinct nearest training points among M perturbed copies | "
             "tr cov(samples) / tr cov(training) | median distance to nearest training latent | CPU s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['estimator']} | {r['sigma']:g} | {r['M']} | {r['n_steps']} | {r['perturbation_length']:.1f} | {r['distinct_nearest']:.2f} | "
                     f"{r['variance_ratio']:.3f} | {r['median_nn_train']:.2f} | {r['cpu_seconds']:.0f} |")
    (out_dir / "cfdm_recall.md").write_text("\n".join(lines) + "\n")
    (out_dir / "cfdm_recall.json").write_text(json.dumps(dict(median_nn_distance=d_nn, P=P, rows=rows,
                                                                 wall_seconds=time.perf_counter() - tic), indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
