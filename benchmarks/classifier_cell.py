#!/usr/bin/env python
"""One grid cell of the paper's Table 1 classifier at the paper's sizes: fit and predict time, peak memory,
and the speed-up of the certified sparse log-sum-exp over the full sum, measured in the same process.

Sizes: 10 classes x 1,000 training points (+ 58 held out per class for the biases), d = 100, M = 512,
3,000 test points (the Fashion-MNIST autoencoder latent of paper_figs/table1_classifier.py; a synthetic
latent of the same shape and scale with --synthetic, or when Fashion-MNIST is not installed). The authors'
JAX code took 141 s for one such cell on a 2-core machine (their figure, not rerun here).

    python benchmarks/classifier_cell.py [--delta 0.05] [--sigma 0.15] [--grid] [--synthetic]
"""
import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "paper_figs"))
sys.path.insert(0, str(HERE.parent))


def data(synthetic):
    if not synthetic:
        try:
            import table1_classifier as t1
            return t1.fashion_split(0)
        except Exception as e:  # noqa: BLE001  (missing data set or torch: fall back and say so)
            print(f"Fashion latent unavailable ({e}); using the synthetic latent")
    r = np.random.default_rng(0)
    centres = r.normal(size=(10, 100)) * 2.0
    Xtr = np.concatenate([c + 1.6 * r.normal(size=(1058, 100)) for c in centres])
    Xte = np.concatenate([c + 1.6 * r.normal(size=(300, 100)) for c in centres])
    return Xtr, np.repeat(np.arange(10), 1058), Xte, np.repeat(np.arange(10), 300), 58 / 1058


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--delta", type=float, default=0.05)
    ap.add_argument("--sigma", type=float, default=0.15)
    ap.add_argument("--grid", action="store_true", help="also time the authors' whole 32-cell grid (fit + validation)")
    ap.add_argument("--synthetic", action="store_true")
    a = ap.parse_args()
    from mmsold.classifier import MMSOLDClassifier
    from mmsold.score.shared import SharedDrawScore
    Xtr, ytr, Xte, yte, frac = data(a.synthetic)
    t0 = time.perf_counter()
    clf = MMSOLDClassifier(delta=a.delta, sigma=a.sigma, n_noise=512, validation_fraction=frac, random_state=0).fit(Xtr, ytr)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    acc = float(np.mean(clf.predict(Xte) == yte))
    pred_s = time.perf_counter() - t0
    dens, Zq = clf.densities_[0], Xte[:300]
    full = SharedDrawScore(dens.X_train_, a.delta, a.sigma, n_noise=512, tol=0.0)
    t0 = time.perf_counter(); V0 = full(Zq, np.random.default_rng(dens.noise_seed_))[1]; t_full = time.perf_counter() - t0
    t0 = time.perf_counter(); V1 = dens.score_(Zq, np.random.default_rng(dens.noise_seed_))[1]; t_sparse = time.perf_counter() - t0
    print(f"one cell (delta={a.delta:g}, sigma={a.sigma:g}, M=512): fit {fit_s:.1f} s (10 Stein fits + biases on 580 held-out points), "
          f"predict 3,000 test points {pred_s:.1f} s, accuracy {acc:.4f}")
    print(f"energies of 300 points under one class: full sum {t_full:.2f} s, certified sparse {t_sparse:.3f} s "
          f"({t_full / max(t_sparse, 1e-9):.0f}x), largest difference {np.abs(V0 - V1).max():.1e}; "
          f"terms kept per log-sum-exp: median {dens.score_.n_terms_[0]:g} of {len(dens.X_train_)}")
    if a.grid:
        from table1_classifier import AUTHORS_GRID, tilted_grid
        t0 = time.perf_counter()
        tilted_grid(Xtr, ytr, frac, 0, AUTHORS_GRID, 512, "stein")
        print(f"authors' 32-cell grid (fit + validation macro-F1 per cell): {time.perf_counter() - t0:.1f} s")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
