"""Why list reuse needs two anchors inside MMSOLD at the paper's CelebA-scale step (benchmarks/README.md, "Inside MMSOLD").

    python benchmarks/swing_diagnostic.py      # about 1-2 minutes; prints one line per step, writes nothing

Same data as `paper_scale.py`'s celeba700 case (N = 27,000, d = 700, whitened with k = 500), MMSOLD with the paper's
options for 20 steps (P = 3,000, h = 5e-4, delta = 0.05, sigma = 1). At every score call it records the particles
and prints: the median move since the previous call, the median move since two calls back, the median cosine
between successive moves, and the median share of a move's squared length in the directions of Sigma* with
h lambda / delta^2 > 2 (beyond the explicit stability bound).
"""
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paper_scale import make_case, watch_score  # noqa: E402

from mmsold.sampler import MMSOLD  # noqa: E402


def main(seed=0, n_steps=20):
    h, delta = 5e-4, 0.05
    X = make_case(27000, 700, 500, seed)
    est = MMSOLD(delta=delta, sigma=1.0, step_size=h, n_steps=n_steps, score_estimator="nearest_remainder",
                 n_neighbors=50, n_remainder=50, n_noise=2, target_covariance="mixture", init="data",
                 random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # the step-size note: h is above the explicit bound, as in the paper
        est.fit(X)
    seen = []
    with warnings.catch_warnings(), watch_score(est, lambda score, Z: seen.append(np.array(Z, copy=True))):
        warnings.simplefilter("ignore")
        est.sample(3000)
    lam, U = np.linalg.eigh(est.covariance_)
    top = U[:, h * lam / delta**2 > 2]
    print(f"lambda_max(Sigma*) = {lam[-1]:.2f}, stability bound 2 delta^2 / lambda_max = {2 * delta**2 / lam[-1]:.2e}, "
          f"h = {h:g}: {top.shape[1]} directions with h lambda / delta^2 > 2")
    for k in range(1, len(seen) - 1):
        d0, d1 = seen[k] - seen[k - 1], seen[k + 1] - seen[k]
        n0, n1 = np.linalg.norm(d0, axis=1), np.linalg.norm(d1, axis=1)
        cos = np.sum(d0 * d1, 1) / (n0 * n1)
        share = np.sum((d1 @ top) ** 2, 1) / n1**2
        two = np.linalg.norm(seen[k + 1] - seen[k - 1], axis=1)
        print(f"step {k + 1:2d}: median move {np.median(n1):6.2f}, two-step move {np.median(two):5.2f}, "
              f"cos(successive moves) {np.median(cos):5.2f}, share in unstable directions {np.median(share):.2f}")


if __name__ == "__main__":
    main()
