#!/usr/bin/env python
"""Figs. 4 / 7 / 8 substitute (issue 14): Fashion-MNIST in a PCA and an autoencoder latent, the paper's protocol.

The paper's CelebA-HQ experiment (27,000 training / 3,000 test images, P = 3,000, T = 100,
K = L = 50, h = 5e-4, data start, delta = 0.05) with Fashion-MNIST in its place: 27,000 training
images (a seeded subset of the 60,000 training split), 3,000 test images (a seeded subset of the
10,000 test split), and 3,000 further training-split images as a validation set for choosing the
naive sampler's step. Latents (100-dim): PCA (`mmsold.latent.PCALatent`, no whitening) and a small
convolutional autoencoder (`mmsold.autoencoder.ConvAutoencoder`, cached on disk). Both are partially
whitened with `PartialWhitening(k=20)` and divided by sqrt(tau) (units where the tail variance is 1).

Methods (each one ensemble of P particles / samples, decoded to images):
- data start: P random training latents + delta-noise, no dynamics (what the 100 steps add);
- MM-SOLD, the paper's estimator and target (nearest_remainder, K = L = 50, M = 2, mixture covariance,
  data start, T = 100, delta = 0.05, sigma = 1) at the paper's step h = 5e-4, and at its best step on
  a grid (lowest validation KID);
- naive SOLD (moment_match=False) at h = 5e-4 (diverges: the step is recorded) and at its best
  stable step on a grid (the same rule);
- sigma-CFDM (K = L = 50, M = 2, 100 Euler steps, sigma = 1) in the same whitened latent;
- a latent DDPM (`mmsold.ddpm.DDPM`, MLP, EMA of the weights, trained until its validation loss on 10%
  of the training latents stops improving, within a stated iteration budget).
For each latent the script also reports lambda_max of Sigma*, the explicit bound 2 delta^2 / lambda_max
and the directions with h lambda / delta^2 > 2 at the paper's step, and for each Langevin run the
median cosine between successive steps over its second half (near -1: a period-2 swing). The chosen
steps are rerun with `n_seeds` sampler seeds (KID mean and sd over seeds). A long run (`long_T` steps)
of both Langevin samplers at MM-SOLD's chosen step (inside the bound, so both are stable) shows what
the dynamics do with time at matched settings. Class-conditional runs (`class_conditional`): each
class's 6,000 training images, its own whitening, P = 1,000, both samplers at 0.8 x the class's bound,
KID against the class's 1,000 test images and the share of samples the classifier assigns to the class.
Both samplers are also run with more smoothing (`sigma_extra`, sigma = 3) at the same step: the naive
target shrinks there, while the constraint holds the moments.
Metrics in the features of a small CNN trained on the 27,000 training images only (its test accuracy
is reported): KID (mean +- sd over subsets) and FID (+- sd over bootstrap resamples of the samples)
against the 3,000 test images, precision / recall and density / coverage in features, memorisation in pixel space against
the 27,000 training images (share of samples with d1/d2 < 1/3, median nearest-training distance),
CPU seconds of each sampler. References: 3,000 training images against the test images (what a
perfect sampler scores), and the test images passed through the latent (encode-decode; the floor the
decoder sets).

    python paper_figs/fig4_fashion.py --latents AE   # full, AE latent (about an hour of CPU)
    python paper_figs/fig4_fashion.py --latents PCA --part long   # only the long runs, merged into the saved table
    python paper_figs/fig4_fashion.py --part ddpm   # only the latent DDPM rows (retrained), merged likewise
    python paper_figs/fig4_fashion.py --part grid   # redraw the sample grids from the saved steps (seed 0)
    python paper_figs/fig4_fashion.py --fast   # tiny (< 60 s), writes paper_figs/_fast/
"""
from __future__ import annotations

import _cpu  # noqa: E402,F401  (before NumPy/torch: one BLAS thread, torch CPU kernels pinned; see _cpu.py)

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _script import output_dir, skip_without_torch  # noqa: E402
from mmsold.autoencoder import ConvAutoencoder, FashionClassifier, frechet_distance  # noqa: E402
from mmsold.cfdm import SigmaCFDM  # noqa: E402
from mmsold.datasets import DataFileNotFoundError, fashion_mnist  # noqa: E402
from mmsold.dynamics import NonFiniteParticlesError  # noqa: E402
from mmsold.latent import PCALatent  # noqa: E402
from mmsold.metrics import density_coverage, kernel_inception_distance, precision_recall  # noqa: E402
from mmsold.manifold import retract, to_coordinates, to_particles  # noqa: E402
from mmsold.sampler import MMSOLD  # noqa: E402
from mmsold.whitening import PartialWhitening  # noqa: E402


def settings(fast: bool) -> dict:
    if fast:
        return dict(n_train=2000, n_test=500, n_val=500, P=300, T=20, latent_dim=32, k=10, data_seed=2026,
                    ae=dict(width=8, n_epochs=4, batch_size=32), clf=dict(n_features=32, width=8, n_epochs=2, batch_size=64),
                    naive_steps=[5e-6, 5e-5], mmsold_steps=[5e-5, 5e-4], cfdm=True, n_seeds=2,
                    ddpm=dict(hidden=32, n_layers=2, n_iter=300, batch_size=256, lr=2e-3, n_sample_steps=20,
                              ema_decay=0.99, val_fraction=0.1, eval_every=100, patience=2, tol=1e-2,
                              lr_schedule="constant"),
                    kid=dict(n_subsets=10, subset_size=200), n_boot=5, latents=["PCA", "AE"], long_T=40, sigma_extra=[3.0], n_draws=3, draw_P=[300, 100],
                    classes=dict(labels=[0], n_train=400, n_test=100, P=100, T_values=[20, 40], seeds=[0, 1],
                                 kid=dict(n_subsets=10, subset_size=50)))
    return dict(n_train=27000, n_test=3000, n_val=3000, P=3000, T=100, latent_dim=100, k=20, data_seed=2026,
                ae=dict(width=32, n_epochs=6, batch_size=128), clf=dict(n_features=128, width=16, n_epochs=3, batch_size=128),
                naive_steps=[1e-5, 1e-4, 2.5e-4], mmsold_steps=[5e-5, 2.5e-4, 5e-4], cfdm=True, n_seeds=3,
                ddpm=dict(hidden=256, n_layers=3, n_iter=50000, batch_size=512, lr=1e-3, n_sample_steps=100,
                          ema_decay=0.999, val_fraction=0.1, eval_every=1000, patience=8, tol=1e-3,
                          lr_schedule="cosine"),
                kid=dict(n_subsets=50, subset_size=1000), n_boot=20, latents=["AE", "PCA"], long_T=1000, sigma_extra=[3.0], n_draws=20, draw_P=[3000, 1000],
                classes=dict(labels=list(range(10)), n_train=6000, n_test=1000, P=1000, T_values=[100], seeds=[0, 1],
                             kid=dict(n_subsets=50, subset_size=500)))


PAPER = dict(score_estimator="nearest_remainder", n_neighbors=50, n_remainder=50, n_noise=2,
             target_covariance="mixture", init="data", step_size=5e-4, delta=0.05, sigma=1.0)


def load(cfg):
    "Seeded subsets: (train, train labels, validation, test, test labels) images in [0, 1]."
    Xa, ya = fashion_mnist("train")
    Xb, yb = fashion_mnist("test")
    rng = np.random.default_rng(cfg["data_seed"])
    itr = rng.permutation(len(Xa))
    ite = rng.permutation(len(Xb))[: cfg["n_test"]]
    tr, va = itr[: cfg["n_train"]], itr[cfg["n_train"]: cfg["n_train"] + cfg["n_val"]]
    return Xa[tr], ya[tr], Xa[va], Xb[ite], yb[ite]


def load_or_skip(cfg):
    "`load(cfg)`, or None after printing why when the Fashion-MNIST files are missing (the script then exits 0)."
    try:
        return load(cfg)
    except DataFileNotFoundError as e:
        print("skipped:", e)
        return None


class Latent:
    "Image <-> whitened latent: encoder (PCA or AE), then PartialWhitening(k) divided by sqrt(tau)."

    def __init__(self, encoder, k, X_train):
        self.encoder = encoder
        self.codes_ = encoder.transform(X_train)
        self.pw = PartialWhitening(k).fit(self.codes_)
        self.unit = float(np.sqrt(self.pw.tau_))
        self.W_train = self.pw.transform(self.codes_) / self.unit

    def encode(self, X):
        return self.pw.transform(self.encoder.transform(X)) / self.unit

    def decode(self, W):
        return np.clip(self.encoder.inverse_transform(self.pw.inverse_transform(W * self.unit)), 0.0, 1.0)


def build_models(cfg, X_train, y_train, cache_dir="default"):
    "The classifier (features) and both latents; returns (classifier, {name: Latent}, timings)."
    t = {}
    c0 = time.process_time()
    clf = FashionClassifier(random_state=0, cache_dir=cache_dir, **cfg["clf"]).fit(X_train, y_train)
    t["classifier_fit_cpu"] = time.process_time() - c0
    lat = {}
    if "PCA" in cfg["latents"]:
        lat["PCA"] = Latent(PCALatent(n_components=cfg["latent_dim"], whiten=0.0).fit(X_train), cfg["k"], X_train)
    if "AE" in cfg["latents"]:
        c0 = time.process_time()
        ae = ConvAutoencoder(latent_dim=cfg["latent_dim"], random_state=0, cache_dir=cache_dir, **cfg["ae"]).fit(X_train)
        t["ae_fit_cpu"] = time.process_time() - c0
        t["ae_from_cache"] = ae.from_cache_
        lat["AE"] = Latent(ae, cfg["k"], X_train)
    return clf, lat, t


class Scorer:
    "All metrics of a set of images against fixed test features and training images."

    def __init__(self, clf, X_train, X_test, cfg):
        from sklearn.neighbors import NearestNeighbors
        self.clf, self.cfg = clf, cfg
        F = clf.transform(X_test)
        # one fixed scalar for all sets: features divided by the test features' RMS, so the KID kernel
        # (a.b / f + 1)^3 sees inner products of order 1 (FID is reported in the same units)
        self.unit = float(np.sqrt(np.mean(F ** 2)))
        self.F_test = F / self.unit
        self.nn = NearestNeighbors(n_neighbors=2, algorithm="brute").fit(X_train)

    def __call__(self, images, seed=0):
        F = self.clf.transform(images) / self.unit
        kid, kid_sd = kernel_inception_distance(F, self.F_test, random_state=seed, **self.cfg["kid"])
        rng = np.random.default_rng(seed)
        boot = [frechet_distance(F[rng.integers(0, len(F), len(F))], self.F_test) for _ in range(self.cfg["n_boot"])]
        p, r = precision_recall(self.F_test, F)
        dens, cov = density_coverage(self.F_test, F)
        dist, idx = self.nn.kneighbors(images)
        ratio = np.divide(dist[:, 0], dist[:, 1], out=np.zeros(len(dist)), where=dist[:, 1] > 0)
        return dict(kid=kid, kid_sd=kid_sd, fid=frechet_distance(F, self.F_test), fid_boot_sd=float(np.std(boot)),
                    precision=p, recall=r, density=dens, coverage=cov, memorisation=float(np.mean(ratio < 1 / 3)),
                    median_nn_train=float(np.median(dist[:, 0]))), idx[:, 0]


def run_sampler(make, W_train, P, seed):
    """Fit + sample; returns (latents or None, cpu seconds, note, swing).

    `swing`: for the Langevin samplers, the median step length and the median cosine between successive
    steps over the second half of the run (from the trace; a cosine near -1 is the period-2 swing of a
    step above the stability bound), else {}.
    """
    c0 = time.process_time()
    swing = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the stability-bound warning is expected at the paper's step
            est = make(seed).fit(W_train)
            if isinstance(est, MMSOLD):
                Z, trace = est.sample(P, return_trace=True)
            else:
                Z, trace = est.sample(P), {}
        note = ""
        ce = np.asarray(trace.get("cov_error", []))
        blown = np.flatnonzero(~(ce < 10))  # covariance error above 10x (or non-finite)
        if len(blown):
            note = f"covariance error > 10 from step {blown[0] + 1} (final {ce[-1]:.3g}); "
        if "move_cosine" in trace:
            half = len(trace["move"]) // 2
            swing = dict(step_move=float(np.nanmedian(trace["move"][half:])),
                         step_cosine=float(np.nanmedian(trace["move_cosine"][half:])))
        big = float(np.max(np.abs(Z))) if np.all(np.isfinite(Z)) else np.inf
        if big > 1e4 * max(1.0, float(np.max(np.abs(W_train)))):
            Z, note = None, note + f"diverged: max |z| = {big:.3g} after the run (training latents <= {np.max(np.abs(W_train)):.3g})"
    except (NonFiniteParticlesError, FloatingPointError) as e:  # raised by the sampler, naming the step
        Z, note = None, f"diverged: {e}"
    return Z, time.process_time() - c0, note, swing


def data_start_cloud(W, P, rng):
    "The data start: P random rows of W plus delta-noise (the paper's initialisation, no dynamics)."
    return W[rng.integers(0, len(W), P)] + PAPER["delta"] * rng.standard_normal((P, W.shape[1]))


def mmsold(h, T, moment_match=True, **over):
    "The paper's MMSOLD at step h, as a factory seed -> estimator."
    return lambda s: MMSOLD(**{**PAPER, "step_size": h, **over}, n_steps=T, moment_match=moment_match, random_state=s)


def stiff_directions(W_train, h):
    "lambda_max of Sigma* (mixture covariance of the whitened latent), the bound 2 delta^2 / lambda_max, ratios h lambda / delta^2 > 2."
    delta = PAPER["delta"]
    lam = np.linalg.eigvalsh(np.cov(W_train.T, bias=True)) + delta ** 2
    ratio = h * lam / delta ** 2
    return dict(lambda_max=float(lam[-1]), bound=float(2 * delta ** 2 / lam[-1]),
                unstable_ratios=[round(float(r), 2) for r in sorted(ratio[ratio > 2], reverse=True)])


def choose_step(name, label, steps, make, L, cfg, val_score, test_score=None):
    """Run `make(h)` for each step (sampler seed 10,000); returns (step of lowest finite validation KID or None, records).

    Only the validation KID chooses; with `test_score` the same samples' test KID is recorded next to it, so
    the table can show whether the choice was also the best on the test images.
    """
    val = []
    for h in steps:
        Z, cpu, note, swing = run_sampler(make(h), L.W_train, cfg["P"], 10_000)
        ims = L.decode(Z) if Z is not None else None
        v = val_score(ims)[0]["kid"] if Z is not None else np.inf
        t = test_score(ims)[0]["kid"] if Z is not None and test_score is not None else np.nan
        val.append(dict(step_size=h, val_kid=v, test_kid=t, note=note, cpu_seconds=cpu, **swing))
        print(f"[{name}] {label} h={h:g}: validation KID {v:.3e} (test {t:.3e}) {swing} {note[:80]}", flush=True)
    finite = [v for v in val if np.isfinite(v["val_kid"])]
    return (min(finite, key=lambda v: v["val_kid"])["step_size"] if finite else None), val


def latent_ddpm(cfg, W_train, seed=0):
    "The latent DDPM baseline trained to its validation-loss stop (budget `n_iter`); returns (model, fit CPU s)."
    from mmsold.ddpm import DDPM
    c0 = time.process_time()
    m = DDPM(**cfg["ddpm"], random_state=seed).fit(W_train)
    return m, time.process_time() - c0


def class_conditional(cfg, clf, encoder, T_values, fraction=0.8, seeds=(0,)):
    """Class-conditional runs: each class's own training images, latent whitening and samplers.

    For each label c in `cfg["classes"]["labels"]`: the first `n_train` training-split images of class c
    (all 6,000 at full size), the first `n_test` test images of class c, the same encoder with its partial
    whitening refitted on the class, and P particles. The step is `fraction` of the class's own bound
    2 delta^2 / lambda_max(Sigma*), the same for MM-SOLD and naive SOLD (both inside the bound), for each
    T in `T_values`. The data start and the samplers are run once per seed in `seeds` (the seed also draws
    KID's subsets; a seed gives both samplers the same starting cloud). Metrics: KID against the class's
    test images (classifier features), the share of samples the classifier labels c, and the median pixel
    distance to the nearest training image of the class (the class's test images give the reference).
    Returns a list of rows.
    """
    cc = cfg["classes"]
    Xa, ya = fashion_mnist("train")
    Xb, yb = fashion_mnist("test")
    ccfg = {**cfg, "kid": cc["kid"], "n_boot": 2}
    out = []
    for c in cc["labels"]:
        Xc, Xt = Xa[ya == c][: cc["n_train"]], Xb[yb == c][: cc["n_test"]]
        L = Latent(encoder, cfg["k"], Xc)
        sc = Scorer(clf, Xc, Xt, ccfg)
        bound = stiff_directions(L.W_train, PAPER["step_size"])["bound"]
        h = fraction * bound

        def row(method, Z, seed, cpu=0.0, **extra):
            ims = L.decode(Z)
            r, _ = sc(ims, seed=seed)
            out.append(dict(label=int(c), seed=seed, method=method, kid=r["kid"], kid_sd=r["kid_sd"], fid=r["fid"],
                            class_agreement=float(np.mean(clf.predict(ims) == c)), median_nn_train=r["median_nn_train"],
                            precision=r["precision"], recall=r["recall"], cpu_seconds=cpu, step_size=h, **extra))
            print(f"[class {c} seed {seed}] {method}: KID {r['kid']:.3e} agreement {out[-1]['class_agreement']:.3f} "
                  f"nn {r['median_nn_train']:.2f}", flush=True)
        row("test images encoded-decoded", L.encode(Xt), seeds[0])
        for seed in seeds:
            rng = np.random.default_rng(seed)
            row("data start", data_start_cloud(L.W_train, cc["P"], rng), seed)
            for T in T_values:
                for mname, mm in (("MM-SOLD", True), ("naive SOLD", False)):
                    Z, cpu, note, swing = run_sampler(mmsold(h, T, mm), L.W_train, cc["P"], seed)
                    if Z is None:
                        out.append(dict(label=int(c), seed=seed, method=f"{mname}, T={T}", note=note, step_size=h))
                        continue
                    row(f"{mname}, T={T}", Z, seed, cpu, **swing)
    return out


def sampler_plan(cfg, h_mm, h_naive, seeds):
    """The main table's sampler runs after the step choice: a list of (row name, factory seed -> estimator,
    sampler seeds, drawn in the sample grid?). `h_mm`, `h_naive`: the validated steps (None if none ran)."""
    T = cfg["T"]
    todo = [(f"MM-SOLD, paper step (h={PAPER['step_size']:g})", mmsold(PAPER["step_size"], T), (0,), True)]
    if h_mm is not None and h_mm != PAPER["step_size"]:
        todo.append((f"MM-SOLD, best validation step (h={h_mm:g})", mmsold(h_mm, T), seeds, True))
    todo.append((f"naive SOLD, paper step (h={PAPER['step_size']:g})", mmsold(PAPER["step_size"], T, False), (0,), False))
    if h_naive is not None:
        todo.append((f"naive SOLD, best validation step (h={h_naive:g})", mmsold(h_naive, T, False), seeds, True))
    if cfg["cfdm"]:
        todo.append(("sigma-CFDM (sigma=1, M=2, 100 steps)",
                     lambda s: SigmaCFDM(sigma=1.0, n_steps=100 if T >= 100 else T, n_neighbors=50,
                                         n_remainder=50, n_noise=2, random_state=s), (0,), True))
    if h_mm is not None and cfg.get("long_T"):
        # the same step for both samplers (MM-SOLD's choice, inside the bound) and a longer run: what the dynamics do with time
        for mname, mm in (("MM-SOLD", True), ("naive SOLD", False)):
            todo.append((f"{mname}, long run (h={h_mm:g}, T={cfg['long_T']})", mmsold(h_mm, cfg["long_T"], mm), seeds, False))
    if h_mm is not None:
        # more smoothing at the same step: the naive target shrinks, the constraint holds the moments
        for sig in cfg.get("sigma_extra", []):
            for mname, mm in (("MM-SOLD", True), ("naive SOLD", False)):
                todo.append((f"{mname}, sigma={sig:g} (h={h_mm:g})", mmsold(h_mm, T, mm, sigma=sig), seeds, mm))
    return todo


def moment_draws(cfg, L, score, n_draws, P, seed0=100):
    """What exact moments alone do to a draw of training points: the data start with and without the retraction.

    For each of `n_draws` seeds: P random training latents + delta-noise (the data start), and the same cloud
    retracted onto the moment constraint (mean mu*, covariance Sigma*: MM-SOLD's starting point, T = 0).
    KID's subsets have `cfg["kid"]["subset_size"]` samples: with P equal to it every subset is the whole
    cloud, so a retracted subset has exact latent moments; with P larger each subset is a random part of it.
    Returns a list of per-draw test KIDs of both, paired by seed.
    """
    est = MMSOLD(**{**PAPER, "step_size": None}, n_steps=1).fit(L.W_train)  # only its mu*, L are used
    out = []
    for k in range(n_draws):
        rng = np.random.default_rng(seed0 + k)
        Z0 = data_start_cloud(L.W_train, P, rng)
        Z1 = to_particles(retract(to_coordinates(Z0, est.mean_, est.factor_)), est.mean_, est.factor_)
        a, b = score(L.decode(Z0), seed=k)[0]["kid"], score(L.decode(Z1), seed=k)[0]["kid"]
        out.append(dict(seed=seed0 + k, data_start=a, retracted=b))
        print(f"P {P} draw {seed0 + k}: data start KID {a:.4e}, retracted {b:.4e}", flush=True)
    return out


def _cell(r, k, fmt):
    "A table cell: r[k] formatted, or '-' when absent or not finite."
    return "-" if k not in r or not np.isfinite(r[k]) else format(r[k], fmt)


def class_summary(crows):
    """Per method: means over all runs (classes x seeds) of KID, class agreement and nearest-training distance,
    and the sd over classes of the per-class mean KID; then MM-SOLD minus naive SOLD paired by (class, seed):
    its mean, its sd over runs, the runs and the classes (mean over seeds) where MM-SOLD is lower."""
    methods = list(dict.fromkeys(r["method"] for r in crows))

    def per_class(vals):  # {(label, seed): v} -> per-class means over seeds
        labels = sorted({c for c, _ in vals})
        return np.array([np.mean([v for (c, _), v in vals.items() if c == lab]) for lab in labels])
    summ = []
    for m in methods:
        rs = [r for r in crows if r["method"] == m and "kid" in r]
        if not rs:
            continue
        pc = per_class({(r["label"], r.get("seed", 0)): r["kid"] for r in rs})
        summ.append(dict(method=m, n_classes=len(pc), n_runs=len(rs),
                         **{f"{k}_mean": float(np.mean([r[k] for r in rs])) for k in ("kid", "class_agreement", "median_nn_train")},
                         kid_sd_over_classes=float(np.std(pc, ddof=1)) if len(pc) > 1 else np.nan))
    for m in methods:
        if m.startswith("MM-SOLD, T="):
            key = lambda r: (r["label"], r.get("seed", 0))
            a = {key(r): r["kid"] for r in crows if r["method"] == m and "kid" in r}
            b = {key(r): r["kid"] for r in crows if r["method"] == m.replace("MM-SOLD", "naive SOLD") and "kid" in r}
            d = {k: a[k] - b[k] for k in a if k in b}
            if d:
                dv, pc = np.array(list(d.values())), per_class(d)
                summ.append(dict(method=f"MM-SOLD minus naive SOLD, {m.split(', ')[-1]}", n_classes=len(pc), n_runs=len(dv),
                                 kid_mean=float(dv.mean()), kid_sd_over_runs=float(np.std(dv, ddof=1)) if len(dv) > 1 else np.nan,
                                 kid_sd_over_classes=float(np.std(pc, ddof=1)) if len(pc) > 1 else np.nan,
                                 classes_mm_lower=int(np.sum(pc < 0)), runs_mm_lower=int(np.sum(dv < 0))))
    return summ


def grid_png(path, panels, ncol=10, nrow=4):
    "Panels (title, images) of ncol x nrow 28x28 images, four panels per row, written to `path`."
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import textwrap
    nc = min(4, len(panels))
    nr = -(-len(panels) // nc)
    # titles wrapped to the panel's width (about 4.8 characters of 8-pt text per image column)
    panels = [("\n".join(textwrap.wrap(t, width=int(4.8 * ncol))), ims) for t, ims in panels]
    extra = 0.15 * (max(t.count("\n") for t, _ in panels))
    fig, axes = plt.subplots(nr, nc, figsize=(0.3 * ncol * nc, (0.3 * nrow + 0.4 + extra) * nr), squeeze=False)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    for ax, (title, ims) in zip(axes.ravel(), panels):
        ims = np.asarray(ims)[: ncol * nrow]
        ims = np.concatenate([ims, np.zeros((ncol * nrow - len(ims), 784))]) if len(ims) < ncol * nrow else ims
        g = ims.reshape(nrow, ncol, 28, 28).transpose(0, 2, 1, 3).reshape(nrow * 28, ncol * 28)
        ax.imshow(g, cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true")
    ap.add_argument("--cache-dir", default="default", help="model cache directory ('default' = ~/.cache/mmsold)")
    ap.add_argument("--latents", default=None, help="comma-separated subset of AE,PCA (default both)")
    ap.add_argument("--no-cfdm", action="store_true", help="skip sigma-CFDM (about 3 CPU minutes per run at full size)")
    ap.add_argument("--naive-steps", default=None, help="comma-separated naive-SOLD step grid (default in settings)")
    ap.add_argument("--long-T", type=int, default=None, help="steps of the long runs (0 = skip them; default in settings)")
    ap.add_argument("--ddpm-iter", type=int, default=None, help="the latent DDPM's iteration budget (default in settings)")
    ap.add_argument("--part", default="all", choices=["all", "main", "classes", "draws", "ddpm", "long", "grid"],
                    help="main = the unconditional table (fig4_fashion.*), classes = the class-conditional runs "
                         "(fig4_fashion_classes.*), draws = the data start with and without exact moments (fig4_fashion_draws.*), "
                         "ddpm = only the latent DDPM rows of fig4_fashion.* (retrained), long = only the long-run rows (at the saved "
                         "validated step), grid = redraw fig4_fashion_grid*.png and "
                         "fig4_fashion_nearest*.png from the saved table's validated steps (sampler seed 0, checked against the saved "
                         "KIDs; the table is not rewritten), all = every part but ddpm, long and grid (two processes can run "
                         "different parts side by side). main, ddpm and long keep the saved table's rows of the latents (main) or "
                         "methods (ddpm, long) they do not rerun.")
    args = ap.parse_args(argv)
    out_dir = output_dir(args.fast)
    if skip_without_torch():
        return 0
    cfg = settings(args.fast)
    if args.latents:
        cfg["latents"] = args.latents.split(",")
    if args.no_cfdm:
        cfg["cfdm"] = False
    if args.naive_steps:
        cfg["naive_steps"] = [float(v) for v in args.naive_steps.split(",")]
    if args.long_T is not None:
        cfg["long_T"] = args.long_T
    if args.ddpm_iter is not None:
        cfg["ddpm"]["n_iter"] = args.ddpm_iter
    t_all = time.perf_counter()
    data = load_or_skip(cfg)
    if data is None:
        return 0
    X_train, y_train, X_val, X_test, y_test = data
    clf, lat, timings = build_models(cfg, X_train, y_train, args.cache_dir)
    acc = clf.score(X_test, y_test)
    print(f"classifier test accuracy {acc:.4f}; timings {timings}", flush=True)
    score = Scorer(clf, X_train, X_test, cfg)
    val_score = Scorer(clf, X_train, X_val, cfg)
    def draw_grids():
        "One grid per latent (the AE's keeps the name fig4_fashion_grid.png); the DDPM's samples in their own grid."
        for name in lat:
            suffix = "" if name == "AE" else f"_{name}"
            mine = [pl for pl in panels[1:] if pl[0].startswith(f"{name}: ")]
            main_p = [pl for pl in mine if "DDPM" not in pl[0]]
            ddpm_p = [pl for pl in mine if "DDPM" in pl[0]]
            if main_p:
                grid_png(out_dir / f"fig4_fashion_grid{suffix}.png", panels[:1] + main_p)
            if ddpm_p:
                grid_png(out_dir / f"fig4_fashion_ddpm_grid{suffix}.png", panels[:1] + ddpm_p)
            pn = []
            for key, (s, n) in nearest.items():
                if key.startswith(f"{name} "):
                    pn += [(f"{key} samples", s), ("their nearest training images", n)]
            if pn:
                grid_png(out_dir / f"fig4_fashion_nearest{suffix}.png", pn, ncol=5, nrow=2)

    def write_outputs(final=False):
        seconds = time.perf_counter() - t_all
        meta = dict(settings=settings(args.fast), paper_params=PAPER, classifier_test_accuracy=acc, timings=timings,
                    wall_seconds=seconds, complete=final, validation={**prev_meta.get("validation", {}), **validation},
                    stiffness={**prev_meta.get("stiffness", {}), **diagnostics},
                    runs=prev_meta.get("runs", []) + [dict(part=args.part, latents=cfg["latents"], wall_seconds=seconds,
                                                           settings=cfg, complete=final)])
        rows = merged_rows()
        (out_dir / "fig4_fashion.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1, default=str))
        cols = ["kid", "kid_sd", "kid_seed_mean", "kid_seed_sd", "fid", "fid_boot_sd", "precision", "recall", "density", "coverage",
                "memorisation",
                "median_nn_train", "step_cosine", "cpu_seconds"]
        lines = [f"Fashion-MNIST, {cfg['n_train']} training / {cfg['n_test']} test images, P = {cfg['P']}, T = {cfg['T']}; "
                 f"classifier test accuracy {acc:.4f}." + ("" if final else " PARTIAL RUN (in progress or interrupted)."), "",
                 "| latent | method | " + " | ".join(cols) + " | note |", "|" + " --- |" * (len(cols) + 3)]
        for r in rows:
            cells = [("-" if c not in r or not np.isfinite(r[c]) else f"{r[c]:.3e}" if c.startswith("kid") else f"{r[c]:.3f}")
                     for c in cols]
            lines.append(f"| {r['latent']} | {r['method']} | " + " | ".join(cells) + f" | {r.get('note', '')[:90]} |".replace("|z|", "\\|z\\|"))
        for name, v in meta["validation"].items():
            lines += ["", f"Step grid, {name} latent (sampler seed 10,000; the validation KID chooses, the test KID of the same "
                      f"samples is shown for comparison):", "", "| sampler | h | validation KID | test KID | step cosine | note |",
                      "| --- | --- | --- | --- | --- | --- |"]
            for sampler, recs in v.items():
                for r in recs:
                    lines.append(f"| {sampler} | {r['step_size']:g} | {r['val_kid']:.3e} | {r['test_kid']:.3e} | "
                                 f"{r.get('step_cosine', np.nan):.2f} | {r['note'][:60]} |".replace("|z|", "\\|z\\|"))
        (out_dir / "fig4_fashion.md").write_text("\n".join(lines) + "\n")
        draw_grids()
        return seconds

    def write_classes(final=False):
        seconds = time.perf_counter() - t_all
        meta = dict(settings=cfg, paper_params=PAPER, classifier_test_accuracy=acc, timings=timings, wall_seconds=seconds, complete=final)
        (out_dir / "fig4_fashion_classes.json").write_text(json.dumps({"meta": meta, "class_conditional": class_rows}, indent=1, default=str))
        lines = []
        for name, cr in class_rows.items():
            cc = cfg["classes"]
            lines += ["", f"Class-conditional runs, {name} latent: per class {cc['n_train']} training / {cc['n_test']} test images, "
                      f"P = {cc['P']}, step 0.8 x the class's own stability bound for both samplers, sampler seeds "
                      f"{cc.get('seeds', [0])}; means over {len(cc['labels'])} classes x seeds (the sd over classes is that of the "
                      f"per-class means; runs are (class, seed) pairs).", "",
                      "| method | KID mean | KID sd over classes | KID sd over runs | class agreement | median nn train | "
                      "classes where MM-SOLD is lower | runs where MM-SOLD is lower |",
                      "| --- | --- | --- | --- | --- | --- | --- | --- |"]
            for r in cr["summary"]:
                f = lambda k, fmt, r=r: _cell(r, k, fmt)
                of = lambda k, n, r=r: "-" if k not in r else f"{r[k]} of {r[n]}"
                lines.append(f"| {r['method']} | {f('kid_mean', '.3e')} | {f('kid_sd_over_classes', '.1e')} | "
                             f"{f('kid_sd_over_runs', '.1e')} | {f('class_agreement_mean', '.3f')} | {f('median_nn_train_mean', '.2f')} | "
                             f"{of('classes_mm_lower', 'n_classes')} | {of('runs_mm_lower', 'n_runs')} |")
            lines += ["", "| class | seed | method | KID | KID sd | class agreement | median nn train | step | step cosine |",
                      "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
            for r in cr["rows"]:
                f = lambda k, fmt, r=r: _cell(r, k, fmt)
                lines.append(f"| {r['label']} | {r.get('seed', 0)} | {r['method']} | {f('kid', '.3e')} | {f('kid_sd', '.1e')} | "
                             f"{f('class_agreement', '.3f')} | {f('median_nn_train', '.2f')} | {f('step_size', '.3g')} | "
                             f"{f('step_cosine', '.2f')} |")
        lines[:0] = [f"Fashion-MNIST class-conditional runs; classifier test accuracy {acc:.4f}." + ("" if final else " PARTIAL RUN."), ""]
        (out_dir / "fig4_fashion_classes.md").write_text("\n".join(lines) + "\n")
        return seconds

    if args.part in ("all", "draws"):
        res = {name: {str(P): moment_draws(cfg, L, score, cfg["n_draws"], P) for P in cfg["draw_P"]} for name, L in lat.items()}
        lines = [f"Draws of the data start (P training latents + delta-noise) with and without the retraction onto the "
                 f"exact moments; test KID per draw (classifier features, {cfg['n_test']} test images, "
                 f"{cfg['kid']['n_subsets']} subsets of {cfg['kid']['subset_size']}).", "",
                 "| latent | P | draws | data start: mean | sd | retracted: mean | sd | paired difference: mean | sd | draws where retracted is lower |",
                 "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for name, byP in res.items():
            for P, r in byP.items():
                a, b = np.array([v["data_start"] for v in r]), np.array([v["retracted"] for v in r])
                lines.append(f"| {name} | {P} | {len(r)} | {a.mean():.3e} | {a.std(ddof=1):.1e} | {b.mean():.3e} | {b.std(ddof=1):.1e} | "
                             f"{(b - a).mean():.2e} | {(b - a).std(ddof=1):.1e} | {int(np.sum(b < a))} of {len(r)} |")
        (out_dir / "fig4_fashion_draws.md").write_text("\n".join(lines) + "\n")
        (out_dir / "fig4_fashion_draws.json").write_text(json.dumps(dict(settings=cfg, draws=res), indent=1, default=str))
        print(f"wrote {out_dir}/fig4_fashion_draws.{{json,md}}")
        if args.part == "draws":
            return 0
    class_rows = {}
    if args.part in ("all", "classes"):
        for name, L in lat.items():
            crows = class_conditional(cfg, clf, L.encoder, cfg["classes"].get("T_values", [cfg["T"]]),
                                      seeds=cfg["classes"].get("seeds", [0]))
            class_rows[name] = dict(rows=crows, summary=class_summary(crows))
            write_classes()
        seconds = write_classes(final=True)
        print(f"wrote {out_dir}/fig4_fashion_classes.{{json,md}} in {seconds:.0f} s")
        if args.part == "classes":
            return 0
    # main reruns whole latents, ddpm / long only those rows, grid no rows: the saved table's other rows are kept
    saved = json.loads((out_dir / "fig4_fashion.json").read_text()) if (out_dir / "fig4_fashion.json").exists() else None
    prev_meta, prev_rows = (saved["meta"], saved["rows"]) if saved else ({}, [])
    if args.part == "grid":
        kept = prev_rows
    elif args.part in ("ddpm", "long"):
        mine = (lambda m: m.startswith("latent DDPM")) if args.part == "ddpm" else (lambda m: ", long run (" in m)
        kept = [r for r in prev_rows if not (r["latent"] in cfg["latents"] and mine(r["method"]))]
    else:
        kept = [r for r in prev_rows if r["latent"] not in cfg["latents"] + ["-"]]
        prev_meta = {k: v if k not in ("validation", "stiffness") else {n: x for n, x in v.items() if n not in cfg["latents"]}
                     for k, v in prev_meta.items()}
    rows = []

    def merged_rows():
        "Kept rows and this run's, grouped by latent (the reference first) in order of first appearance."
        order = {"-": -1}
        for r in kept + rows:
            order.setdefault(r["latent"], len(order))
        return sorted(kept + rows, key=lambda r: order[r["latent"]])
    if args.part not in ("ddpm", "grid", "long"):
        ref, _ = score(X_train[np.random.default_rng(1).choice(len(X_train), cfg["P"], replace=False)])
        rows.append(dict(latent="-", method="reference: training images", **ref, cpu_seconds=0.0, note=""))
    panels, nearest, validation, diagnostics = [("test images", X_test)], {}, {}, {}
    seeds = list(range(cfg["n_seeds"]))

    def add_row(name, L, mname, draw, seeds_here=(0,), cpu=0.0, note="", extra=None, panel=False):
        "Score the samples of `draw(seed)` (latents, or None if it failed) for each seed; seed 0 fills the row."
        Z = draw(seeds_here[0])
        if Z is None:
            rows.append(dict(latent=name, method=mname, cpu_seconds=cpu, note=note[:200], **(extra or {})))
            print(f"[{name}] {mname}: {note[:120]} ({cpu:.0f} s)", flush=True)
            return
        ims = L.decode(Z)
        r, idx = score(ims)
        kids = [r["kid"]] + [score(L.decode(draw(s)))[0]["kid"] for s in seeds_here[1:]]
        row = dict(latent=name, method=mname, **r, cpu_seconds=cpu, note=note, **(extra or {}),
                   move=float(np.median(np.linalg.norm(Z - L.W_train[idx], axis=1))), kid_seeds=kids,
                   kid_seed_mean=float(np.mean(kids)), kid_seed_sd=float(np.std(kids, ddof=1)) if len(kids) > 1 else np.nan)
        rows.append(row)
        print(f"[{name}] {mname}: KID {r['kid']:.3e} +- {r['kid_sd']:.1e} (seeds {np.round(kids, 5)})  FID {r['fid']:.3f} +- "
              f"{r['fid_boot_sd']:.3f}  P/R {r['precision']:.2f}/{r['recall']:.2f}  memo {r['memorisation']:.3f}"
              f"  nn {r['median_nn_train']:.2f}  cpu {cpu:.0f} s {({k: v for k, v in (extra or {}).items() if not isinstance(v, (list, dict))})}", flush=True)
        if panel:
            panels.append((f"{name}: {mname}", ims))
        if mname.startswith("MM-SOLD"):
            nearest[f"{name} {mname}"] = (ims[:10], X_train[idx[:10]])

    def add_ddpm_row(name, L):
        "Train the latent DDPM to its stop, score three sampling seeds, keep its validation-loss curve."
        m, fit_cpu = latent_ddpm(cfg, L.W_train)
        v = m.val_loss_
        last = v[-1] if len(v) else np.nan
        # relative improvement of the validation loss over the last quarter of the evaluations
        q = max(1, len(v) // 4)
        gain = float((v[-q - 1] - v.min()) / v[-q - 1]) if len(v) > q else np.nan
        info = dict(fit_cpu_seconds=fit_cpu, n_iter=int(m.n_iter_), best_iter=int(m.best_iter_),
                    stopped_early=bool(m.stopped_early_), val_iters=m.val_iters_.tolist(), val_loss=v.tolist(),
                    val_gain_last_quarter=gain, ddpm_settings=dict(cfg["ddpm"]))
        c0 = time.process_time()
        m.sample(cfg["P"], random_state=0)
        cpu = time.process_time() - c0
        stop = "stopped early" if m.stopped_early_ else "used the whole budget"
        add_row(name, L, "latent DDPM (early-stopped, EMA)", lambda s: m.sample(cfg["P"], random_state=s), seeds,
                cpu, f"trained {info['n_iter']} iterations (best {info['best_iter']}; {stop}; validation loss {last:.4f}, "
                     f"{100 * gain:.2f}% lower over the last quarter), {fit_cpu:.0f} CPU s", info, True)
        write_outputs()

    def saved_steps(name):
        "(naive SOLD's, MM-SOLD's) validated steps from the saved table's step grid, or None if it has none for `name`."
        if name not in prev_meta.get("validation", {}):
            print(f"[{name}] no saved step grid in fig4_fashion.json: run --part main first", flush=True)
            return None

        def chosen(recs):
            finite = [r for r in recs if np.isfinite(float(r["val_kid"]))]
            return min(finite, key=lambda r: float(r["val_kid"]))["step_size"] if finite else None
        v = prev_meta["validation"][name]
        return chosen(v["naive SOLD"]), chosen(v["MM-SOLD"])

    def redraw_panels(name, L):
        "Rerun the grid's samplers with seed 0 at the saved table's validated steps; check each KID against the saved row's."
        steps = saved_steps(name)
        if steps is None:
            return
        h_naive, h_mm = steps
        saved_kid = {r["method"]: r.get("kid") for r in prev_rows if r["latent"] == name}
        for mname, make, sd, panel in sampler_plan(cfg, h_mm, h_naive, seeds):
            if not panel:
                continue
            Z, cpu, note, _ = run_sampler(make, L.W_train, cfg["P"], sd[0])
            if Z is None:
                print(f"[{name}] {mname}: {note[:120]}", flush=True)
                continue
            ims = L.decode(Z)
            r, idx = score(ims)
            old = saved_kid.get(mname)
            same = old is not None and np.isclose(r["kid"], old, rtol=1e-6, atol=0)
            print(f"[{name}] {mname}: KID {r['kid']:.6e}, saved {old if old is None else format(old, '.6e')} "
                  f"({'reproduced' if same else 'DIFFERS'}; {cpu:.0f} CPU s)", flush=True)
            panels.append((f"{name}: {mname}", ims))
            if mname.startswith("MM-SOLD"):
                nearest[f"{name} {mname}"] = (ims[:10], X_train[idx[:10]])

    for name, L in lat.items():
        T = cfg["T"]
        if args.part == "ddpm":
            add_ddpm_row(name, L)
            continue
        if args.part == "grid":
            redraw_panels(name, L)
            continue
        if args.part == "long":
            steps = saved_steps(name)
            for mname, make, sd, _ in sampler_plan(cfg, steps[1], steps[0], seeds) if steps else []:
                if ", long run (" in mname:
                    runs = {seed: run_sampler(make, L.W_train, cfg["P"], seed) for seed in sd}
                    _, cpu, note, swing = runs[sd[0]]
                    add_row(name, L, mname, lambda seed, runs=runs: runs[seed][0], sd, cpu, note, swing)
                    write_outputs()
            continue
        rec = L.decode(L.encode(X_test))
        mse = float(np.mean((rec - X_test) ** 2))
        r, _ = score(rec)
        rows.append(dict(latent=name, method="test images encoded-decoded", **r, cpu_seconds=0.0,
                         note=f"reconstruction MSE {mse:.4f}"))
        print(f"[{name}] reconstruction MSE {mse:.4f}; KID of reconstructions {r['kid']:.2e}", flush=True)
        diagnostics[name] = stiff_directions(L.W_train, PAPER["step_size"])
        print(f"[{name}] stiffness at the paper's step: {diagnostics[name]}", flush=True)

        def data_start(seed):
            rng = np.random.default_rng(seed)
            return data_start_cloud(L.W_train, cfg["P"], rng)
        add_row(name, L, "data start (no dynamics)", data_start, seeds)
        # each Langevin sampler's step: the lowest validation KID over its grid (finite runs only)
        h_naive, val_naive = choose_step(name, "naive SOLD", cfg["naive_steps"], lambda h: mmsold(h, T, False), L, cfg, val_score, score)
        h_mm, val_mm = choose_step(name, "MM-SOLD", cfg["mmsold_steps"], lambda h: mmsold(h, T), L, cfg, val_score, score)
        validation[name] = {"naive SOLD": val_naive, "MM-SOLD": val_mm}
        todo = sampler_plan(cfg, h_mm, h_naive, seeds)
        for mname, make, sd, panel in todo:
            runs = {seed: run_sampler(make, L.W_train, cfg["P"], seed) for seed in sd}
            _, cpu, note, swing = runs[sd[0]]
            add_row(name, L, mname, lambda seed: runs[seed][0], sd, cpu, note, swing, panel)
            write_outputs()
        if cfg.get("ddpm"):
            add_ddpm_row(name, L)
        write_outputs()  # partial results survive an interrupted run
    if args.part == "grid":
        draw_grids()
        print(f"redrew the grids in {out_dir} in {time.perf_counter() - t_all:.0f} s")
        return 0
    seconds = write_outputs(final=True)
    print(f"wrote {out_dir}/fig4_fashion.{{json,md}} and grids in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
