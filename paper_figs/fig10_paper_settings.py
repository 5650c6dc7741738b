#!/usr/bin/env python
"""Fig. 10 at the paper's settings: KID against particle count P and training-set size N (digits).

The paper's protocol (issue 13, fact 3): sigma = 0.2, M = 32, delta = 0.03, h = 5e-4, T = 100, K = L = 50
(nearest plus remainder), mixture target covariance, data start (training points plus delta-noise),
partially whitened latent; P in {101, 200, 300, 500, 800, 1000, 1500, 2000} with N = 1,000, and
N in {50, 100, 200, 500, 700, 1000} with P = 500; 5 runs each; MM-SOLD against the authors' "kinetic
Langevin" (Stein-identity multipliers + BAOAB of independent particles on the tilted potential,
`mmsold.stein.SteinKineticSampler`, friction 1) and the naive sampler (MMSOLD(moment_match=False)).

Scaled to the shared 2-core machine (a first full run at 3 runs and every P was too slow under load):
P in {101, 200, 500, 1000, 2000} for MM-SOLD, the data start and the training images (2 runs each), the
Stein-BAOAB sampler at P in {101, 500, 2000} (2 runs), naive SOLD at P in {101, 2000} (1 run); the N sweep
(P = 500) at N in {50, 200, 1000} with 2 runs (a new random subset and latent per run), without naive SOLD.

What differs (not available offline): the paper's 64x64 digit-8 set and its 100-dim autoencoder latent.
Here: scikit-learn's 8x8 digits, **all ten classes** (digit 8 has only 174 images, too few for
N = 1,000): N training images drawn from the training part of `mmsold.latent.digit_splits` (seed 0,
1,077 images), KID against its 450 test images (paper: 300). Latent: PCA of the N training images
(`PCALatent(n_components=0.95, whiten=0)`, r = 28-29 dimensions here), then `PartialWhitening(k)` with
k = round(20 r / 100) (the paper's k = 20 of 100, scaled to our latent's dimension), divided by sqrt(tau)
so the lifted tail has unit variance (the convention of `fig4_fashion.py`). delta, sigma and h are
used in these units; the paper's latent units are unknown, so their size relative to the data's
spacing is not the paper's: the script measures it. KID: unbiased cubic-kernel MMD^2 in the features
of `mmsold.latent.DigitFeatures` (an MLP trained on the training split), mean over 100 subsets.

Also reported, to explain the short-run, data-initialised regime: the data start itself (P training
latents plus delta-noise, no steps) and P training images drawn with replacement (no noise), the
median latent distance of each particle to its own starting training point and to its nearest
training point, against the training latents' nearest-neighbour spacing, and the memorised share
(nearest training point closer than 1/3 of the second nearest; in the latent, and in pixels, where the
decoder's 5% reconstruction loss hides part of it).

    python paper_figs/fig10_paper_settings.py          # full -> fig10_paper_settings.{png,json}
    python paper_figs/fig10_paper_settings.py --fast   # tiny (< 30 s) -> paper_figs/_fast/
    python paper_figs/fig10_paper_settings.py --kid-check   # only: KID within one ensemble vs across two
"""
from __future__ import annotations

import _cpu  # noqa: E402,F401  (before NumPy/torch: one BLAS thread, torch CPU kernels pinned; see _cpu.py)

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from mmsold.latent import DigitFeatures, PCALatent, digit_splits, evaluate_images  # noqa: E402
from mmsold.metrics import memorisation_report  # noqa: E402
from mmsold.manifold import retract, to_coordinates, to_particles  # noqa: E402
from mmsold.sampler import MMSOLD  # noqa: E402
from mmsold.stein import SteinKineticSampler  # noqa: E402
from mmsold.whitening import PartialWhitening  # noqa: E402

PAPER = dict(sigma=0.2, M=32, delta=0.03, h=5e-4, T=100, k=20, latent_dim=100, K=50, L=50,
             Ps=[101, 200, 300, 500, 800, 1000, 1500, 2000], N_fixed=1000,
             Ns=[50, 100, 200, 500, 700, 1000], P_fixed=500, runs=5)
METHODS = ["MM-SOLD", "Stein-BAOAB kinetic", "data start (no steps)", "training images", "naive SOLD"]


def settings(fast: bool) -> dict:
    if fast:
        return dict(PAPER, T=10, M=4, Ps=[101, 200], Ns=[100, 200], N_fixed=200, P_fixed=101, runs=1, n_subsets=10,
                    kid_check_P=[101])
    # scaled to the shared machine's budget (paper: every P and N, 5 runs, for each method); see the docstring
    return dict(PAPER, runs=2, n_subsets=100, kid_check_P=[101, 500], Ps=[101, 200, 500, 1000, 2000],
                Ps_by_method={"Stein-BAOAB kinetic": [101, 500, 2000], "naive SOLD": [101, 2000]},
                runs_by_method={"naive SOLD": 1}, Ns=[50, 200, 1000], runs_N=2,
                N_methods=["MM-SOLD", "Stein-BAOAB kinetic", "data start (no steps)", "training images"])


class WhitenedLatent:
    "Images <-> the partially whitened PCA latent: PCA (95% variance, no whitening), PartialWhitening(k), / sqrt(tau)."

    def __init__(self, X_train, k_paper=20, d_paper=100):
        self.pca = PCALatent(n_components=0.95, whiten=0.0).fit(X_train)
        codes = self.pca.encode(X_train)
        r = codes.shape[1]
        self.k = max(1, min(r - 1, int(round(k_paper * r / d_paper))))
        self.pw = PartialWhitening(self.k).fit(codes)
        self.unit = float(np.sqrt(self.pw.tau_))
        self.Z_train = self.pw.transform(codes) / self.unit

    def encode(self, X):
        return self.pw.transform(self.pca.encode(X)) / self.unit

    def decode(self, Z):
        return self.pca.decode(self.pw.inverse_transform(Z * self.unit))


def make_sampler(method, cfg, seed):
    common = dict(delta=cfg["delta"], sigma=cfg["sigma"])
    if method in ("MM-SOLD", "naive SOLD"):
        return MMSOLD(score_estimator="nearest_remainder", n_neighbors=cfg["K"], n_remainder=cfg["L"], n_noise=cfg["M"],
                      target_covariance="mixture", init="data", step_size=cfg["h"], n_steps=cfg["T"],
                      moment_match=(method == "MM-SOLD"), random_state=seed, **common)
    if method == "Stein-BAOAB kinetic":
        return SteinKineticSampler(score_estimator="nearest_remainder", step_size=cfg["h"], n_steps=cfg["T"],
                                   friction=1.0, random_state=seed,
                                   score_options=dict(n_neighbors=cfg["K"], n_remainder=cfg["L"], n_noise=cfg["M"]),
                                   **common)
    raise ValueError(method)


def start_indices(seed, N, P):
    "The training points the samplers start from: both draw `integers(0, N, P)` first from the run's generator."
    return np.random.default_rng(seed).integers(0, N, P)


def nn_dist(A, B):
    "Distance of each row of A to its nearest row of B."
    d2 = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2 * A @ B.T
    return np.sqrt(np.maximum(d2.min(1), 0))


def one_run(method, lat, X_img, X_test, feat, P, cfg, seed):
    "Samples of one method in the latent; returns the metrics dict."
    Zt = lat.Z_train
    N = len(Zt)
    idx = start_indices(seed, N, P)
    c0 = time.process_time()
    rec = {}
    if method == "data start (no steps)":
        Z = Zt[idx] + cfg["delta"] * np.random.default_rng(seed).standard_normal((P, Zt.shape[1]))
    elif method == "training images":
        Z = Zt[idx]
    else:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            try:
                Z = make_sampler(method, cfg, seed).fit(Zt).sample(P, random_state=seed)
            except Exception as e:            # the naive sampler may diverge at h = 5e-4: record it
                rec["error"] = f"{type(e).__name__}: {str(e)[:200]}"
                Z = None
        rec["warnings"] = len(w)
    rec["cpu_seconds"] = time.process_time() - c0
    if Z is None or not np.isfinite(Z).all():
        rec.setdefault("error", "non-finite samples")
        return rec
    ev = evaluate_images(lat.decode(Z), X_img, X_test, feat, n_subsets=cfg["n_subsets"], random_state=seed)
    mem = memorisation_report(Z, Zt, lat.encode(X_test))      # in the latent, where the sampler works
    rec.update(memorised_latent=mem["share"], memorised_latent_test=mem["share_heldout"],
               median_nn_test_latent=mem["median_nn_heldout"], median_nn_train_latent=mem["median_nn_train"],
               max_radius=float(np.linalg.norm(Z - Zt.mean(0), axis=1).max()
                                / np.sqrt(np.trace(np.cov(Zt, rowvar=False, bias=True)))))
    rec.update(kid=ev["kid_feat"], kid_std=ev["kid_feat_std"], memorised=ev["mem_share"],
               memorised_test=ev["mem_share_ref"], precision=ev["precision"], recall=ev["recall"],
               median_dist_to_start=float(np.median(np.linalg.norm(Z - Zt[idx], axis=1))),
               median_dist_to_nearest=float(np.median(nn_dist(Z, Zt))),
               share_nearest_is_start=float(np.mean(np.argmin(
                   (Z * Z).sum(1)[:, None] + (Zt * Zt).sum(1)[None] - 2 * Z @ Zt.T, axis=1) == idx)),
               distinct_starts=int(len(np.unique(idx))))
    return rec


def check_start_reconstruction(lat, cfg):
    "The start points are what the samplers use: rebuild their data start from the same generator and compare."
    Zt, P, seed = lat.Z_train, 150, 123
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(Zt), P)
    Z0 = Zt[idx] + cfg["delta"] * rng.standard_normal((P, Zt.shape[1]))
    for method in ("MM-SOLD", "Stein-BAOAB kinetic"):
        m = make_sampler(method, dict(cfg, h=1e-12, T=1), seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Z = m.fit(Zt).sample(P, random_state=seed)
        ref = Z0
        if method == "MM-SOLD":   # its start is retracted onto the moment constraint
            ref = to_particles(retract(to_coordinates(Z0, m.mean_, m.factor_)), m.mean_, m.factor_)
        err = np.abs(Z - ref).max()
        assert err < 1e-4, (method, err)       # one step of h = 1e-12 moves by ~sqrt(2h) = 1.4e-6 per unit noise
    assert np.array_equal(idx, start_indices(seed, len(Zt), P))


def _cubic(A, B):
    return (A @ B.T / A.shape[1] + 1) ** 3


def kid_independence_check(cfg, out_dir):
    """Is KID's U-statistic fair to an interacting ensemble? Compare it with a cross-ensemble estimate.

    The unbiased MMD^2 assumes i.i.d. samples: its within-sample term averages k(a_i, a_j) over pairs of the
    same ensemble. MM-SOLD's particles are not independent (their mean and covariance are exact). Pairs from
    two independent ensembles (seeds s, s+1) have the marginal law's expectation, so
    MMD^2_cross = mean k(A1, A2) + U-mean k(B, B) - mean k(A1, B) - mean k(A2, B) is unbiased for the marginal.
    """
    S = digit_splits(random_state=0)
    X_all, X_test = S["X"][S["train"]], S["X"][S["test"]]
    feat = DigitFeatures().fit(X_all, S["y"][S["train"]])
    X_fix = X_all[np.sort(np.random.default_rng(2026).choice(len(X_all), cfg["N_fixed"], replace=False))]
    lat = WhitenedLatent(X_fix)
    B = feat.transform(X_test)
    kbb = _cubic(B, B)
    sbb = (kbb.sum() - np.trace(kbb)) / (len(B) * (len(B) - 1))
    out = {}
    for method in ("MM-SOLD", "Stein-BAOAB kinetic", "naive SOLD", "data start (no steps)", "training images"):
        for P in cfg["kid_check_P"]:
            vals = []
            for seed in range(2):
                F = []
                for sd in (2 * seed, 2 * seed + 1):
                    Zt = lat.Z_train
                    idx = start_indices(sd, len(Zt), P)
                    if method == "training images":
                        Z = Zt[idx]
                    elif method == "data start (no steps)":
                        Z = Zt[idx] + cfg["delta"] * np.random.default_rng(sd).standard_normal((P, Zt.shape[1]))
                    else:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            Z = make_sampler(method, cfg, sd).fit(Zt).sample(P, random_state=sd)
                    F.append(feat.transform(lat.decode(Z)))
                k11 = _cubic(F[0], F[0])
                within = (k11.sum() - np.trace(k11)) / (P * (P - 1)) + sbb - 2 * _cubic(F[0], B).mean()
                cross = _cubic(F[0], F[1]).mean() + sbb - _cubic(F[0], B).mean() - _cubic(F[1], B).mean()
                vals.append((within, cross))
            v = np.array(vals)
            out[f"{method} P={P}"] = dict(within_ensemble=v[:, 0].tolist(), cross_ensemble=v[:, 1].tolist())
            print(f"  {method:22s} P={P:5d}: U-statistic (within one ensemble) {v[:, 0].mean():+.4f}   "
                  f"cross-ensemble {v[:, 1].mean():+.4f}  (mean of {len(v)})", flush=True)
    (out_dir / "fig10_paper_settings_kidcheck.json").write_text(json.dumps(out, indent=1))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fast", action="store_true", help="tiny settings (for make test); writes to paper_figs/_fast/")
    ap.add_argument("--kid-check", action="store_true",
                    help="only the KID independence check (writes fig10_paper_settings_kidcheck.json)")
    args = ap.parse_args(argv)
    cfg = settings(args.fast)
    out_dir = HERE / "_fast" if args.fast else HERE
    out_dir.mkdir(parents=True, exist_ok=True)
    t0, c0 = time.perf_counter(), time.process_time()
    print("fig10 (paper settings):", json.dumps(cfg))
    if args.kid_check:
        kid_independence_check(cfg, out_dir)
        print(f"fig10 KID check: {time.perf_counter() - t0:.1f} s wall, {time.process_time() - c0:.1f} CPU s")
        return None
    S = digit_splits(random_state=0)
    X_all, X_test = S["X"][S["train"]], S["X"][S["test"]]
    feat = DigitFeatures().fit(X_all, S["y"][S["train"]])
    sub_rng = np.random.default_rng(2026)
    res = dict(settings=cfg, paper=PAPER, n_train_available=len(X_all), n_test=len(X_test), P_sweep={}, N_sweep={})

    def latent_info(lat):
        Zt = lat.Z_train
        D = np.sqrt(np.maximum((Zt * Zt).sum(1)[:, None] + (Zt * Zt).sum(1)[None] - 2 * Zt @ Zt.T, 0))
        np.fill_diagonal(D, np.inf)
        ev = np.linalg.eigvalsh(np.cov(Zt, rowvar=False, bias=True))
        return dict(r=Zt.shape[1], k=lat.k, median_nn_spacing=float(np.median(D.min(1))),
                    lambda_max=float(ev[-1]), lambda_min=float(ev[0]),
                    explicit_bound=2 * cfg["delta"] ** 2 / float(ev[-1] + cfg["delta"] ** 2))

    # P sweep, N fixed: one training set and one latent
    X_fix = X_all[np.sort(sub_rng.choice(len(X_all), cfg["N_fixed"], replace=False))]
    lat = WhitenedLatent(X_fix)
    check_start_reconstruction(lat, cfg)
    res["latent_N_fixed"] = latent_info(lat)
    print("  latent (N fixed):", res["latent_N_fixed"], flush=True)
    for method in METHODS:
        res["P_sweep"][method] = {}
        for P in cfg.get("Ps_by_method", {}).get(method, cfg["Ps"]):
            n_runs = cfg.get("runs_by_method", {}).get(method, cfg["runs"])
            runs = [one_run(method, lat, X_fix, X_test, feat, P, cfg, seed) for seed in range(n_runs)]
            res["P_sweep"][method][P] = runs
            report(method, f"P={P}", runs)
            (out_dir / "fig10_paper_settings.json").write_text(json.dumps(res, indent=1, default=float))  # partial
    # N sweep, P fixed: a new random subset (and latent) per run
    res["latent_N_sweep"] = {}
    for N in cfg["Ns"]:
        per_seed = []
        for seed in range(cfg.get("runs_N", cfg["runs"])):
            Xn = X_all[np.sort(np.random.default_rng(100 + seed).choice(len(X_all), N, replace=False))]
            per_seed.append((Xn, WhitenedLatent(Xn)))
        res["latent_N_sweep"][N] = latent_info(per_seed[0][1])
        for method in cfg.get("N_methods", METHODS):
            runs = [one_run(method, latn, Xn, X_test, feat, cfg["P_fixed"], cfg, seed)
                    for seed, (Xn, latn) in enumerate(per_seed)]
            res["N_sweep"].setdefault(method, {})[N] = runs
            report(method, f"N={N}", runs)
            (out_dir / "fig10_paper_settings.json").write_text(json.dumps(res, indent=1, default=float))  # partial
    res["wall_seconds"], res["cpu_seconds"] = time.perf_counter() - t0, time.process_time() - c0
    (out_dir / "fig10_paper_settings.json").write_text(json.dumps(res, indent=1, default=float))
    plot(res, cfg, out_dir)
    print(f"fig10 (paper settings): {res['wall_seconds']:.1f} s wall, {res['cpu_seconds']:.1f} CPU s; "
          f"wrote {out_dir / 'fig10_paper_settings.png'}")
    return res


def _stat(runs, key):
    v = np.array([r[key] for r in runs if key in r], dtype=float)
    return (float(v.mean()), float(v.std())) if len(v) else (np.nan, np.nan)


def report(method, label, runs):
    bad = [r["error"] for r in runs if "error" in r]
    if bad:
        print(f"  {method:22s} {label:7s}: {len(bad)}/{len(runs)} runs failed: {bad[0][:120]}", flush=True)
    if len(bad) < len(runs):
        k, ks = _stat(runs, "kid")
        print(f"  {method:22s} {label:7s}: KID {k:.4f} +- {ks:.4f}  memorised latent {_stat(runs, 'memorised_latent')[0]:.3f} "
              f"pixels {_stat(runs, 'memorised')[0]:.3f}  "
              f"dist to start {_stat(runs, 'median_dist_to_start')[0]:.3f}  to nearest "
              f"{_stat(runs, 'median_dist_to_nearest')[0]:.3f}  nearest = start {_stat(runs, 'share_nearest_is_start')[0]:.2f}"
              f"  ({_stat(runs, 'cpu_seconds')[0]:.1f} CPU s)", flush=True)


def plot(res, cfg, out_dir):
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    styles = {"MM-SOLD": ("o-", "tab:blue"), "Stein-BAOAB kinetic": ("s-", "tab:orange"), "naive SOLD": ("^-", "tab:green"),
              "data start (no steps)": ("x--", "0.4"), "training images": ("+:", "k")}
    for ax, key, xlabel in ((axes[0], "P_sweep", "number of particles P"), (axes[1], "N_sweep", "training-set size N")):
        for method, d in res[key].items():
            xs = [int(x) for x in d]
            st = [_stat(d[x], "kid") for x in d]
            ax.errorbar(xs, [s[0] for s in st], yerr=[s[1] for s in st], fmt=styles[method][0], c=styles[method][1],
                        ms=4, capsize=2, label=method)
        ax.set_xlabel(xlabel); ax.set_ylabel("KID (classifier features) vs test images")
    axes[0].set_title(f"N = {cfg['N_fixed']}", fontsize=9)
    axes[1].set_title(f"P = {cfg['P_fixed']}", fontsize=9)
    axes[0].legend(fontsize=7)
    a = axes[2]
    spacing = res["latent_N_fixed"]["median_nn_spacing"]
    for method in ("MM-SOLD", "Stein-BAOAB kinetic", "naive SOLD"):
        d = res["P_sweep"][method]
        xs = [int(x) for x in d]
        a.plot(xs, [_stat(d[x], "median_dist_to_start")[0] / spacing for x in d], styles[method][0],
               c=styles[method][1], ms=4, label=f"{method}: to its start")
        a.plot(xs, [_stat(d[x], "memorised_latent")[0] for x in d], styles[method][0].replace("-", ":"),
               c=styles[method][1], ms=4, label=f"{method}: memorised share (latent)")
    a.set_xlabel("number of particles P"); a.set_ylim(bottom=0)
    a.set_title(f"median distance to the start / training NN spacing ({spacing:.2f}); memorised share", fontsize=9)
    a.legend(fontsize=6)
    L = res["latent_N_fixed"]
    fig.suptitle(f"Fig. 10 at the paper's settings, sklearn digits (all classes), PCA latent r = {L['r']}, whitening "
                 f"k = {L['k']}: delta = {cfg['delta']}, sigma = {cfg['sigma']}, M = {cfg['M']}, h = {cfg['h']}, "
                 f"T = {cfg['T']}, data start; mean +- sd over {cfg['runs']} runs", fontsize=9)
    fig.tight_layout()
    fig.savefig(out_dir / "fig10_paper_settings.png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
