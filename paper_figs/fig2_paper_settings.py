#!/usr/bin/env python
"""Fig. 2 at the paper's settings: MM-SOLD (Algorithm 2 estimator, mixture target, data start) vs sigma-CFDM in 2D.

The authors' protocol (issue 13, fact 3): N = 1,000 training points, h = 5e-4, delta = 0.02,
M in {2, 4, 8} smoothing draws, sigma in {0, 0.01, ..., 0.2}, Leimkuhler-Matthews steps, K = L = 50
(nearest plus uniform remainder, `score_estimator="nearest_remainder"`), target covariance
Sigma_x + delta^2 I, particles started at training points plus delta-noise; SW2 (512 projections)
against fresh target points and against the training set; sigma-CFDM by Euler steps from N(0, I) over
t = h ... 1 - h with the full softmax. The data sets are the ones of `fig2_mmsold_vs_cfdm.py`
(`results_table.make_splits`: checkerboard and two spirals, 1,000 training points each).

What is scaled (the paper's 20,000 particles x 3,000 steps cost about 0.4 s per step here, i.e. ~20
CPU minutes per cell and ~20 CPU hours for the grid; the script measures this itself): P = 1,000
particles, T = 200 steps (SW2 also recorded after 100), the full sigma grid at M = 2 but only
sigma in {0, 0.05, 0.2} at M = 4 and 8, sigma-CFDM with M = 2 only and 200 Euler steps from t0 = h;
20,000 fresh target points for SW2 as in the paper. One seed per cell. Also run: the M = 2 grid at
h / lambda_max(Sigma*), the step the paper's h would correspond to if the authors' Langevin step is
taken in data coordinates (ours is preconditioned by Sigma*, see paper_figs/README.md, "The paper's settings").

    python paper_figs/fig2_paper_settings.py          # full -> fig2_paper_settings.{png,json,md}
    python paper_figs/fig2_paper_settings.py --fast   # tiny (< 30 s) -> paper_figs/_fast/
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
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import results_table as rt  # noqa: E402
from mmsold.cfdm import SigmaCFDM  # noqa: E402
from mmsold.datasets import load_toy  # noqa: E402
from mmsold.manifold import to_particles  # noqa: E402
from mmsold.metrics import memorisation_report, sliced_wasserstein  # noqa: E402
from mmsold.sampler import MMSOLD  # noqa: E402

DATASETS = ["checkerboard", "two_spirals"]
PAPER = dict(N=1000, P=20000, T=3000, h=5e-4, delta=0.02, M=[2, 4, 8],
             sigma=[0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.2], n_projections=512, n_fresh=20000)


def settings(fast: bool) -> dict:
    if fast:
        return dict(PAPER, P=200, T=30, checkpoints=[10, 30], M=[2], sigma=[0.0, 0.05], cfdm_M=[2], cfdm_steps=20, h_equivalent=True,
                    n_projections=64, n_fresh=2000, datasets=DATASETS, cost_P=2000, cost_steps=2, seed=0)
    # scaled to fit ~15 CPU minutes of a shared machine: the full sigma grid at M = 2, M = 4 and 8 at three sigmas
    return dict(PAPER, P=1000, T=200, checkpoints=[100, 200], M=[2, 4, 8], sigma_by_M={4: [0.0, 0.05, 0.2], 8: [0.0, 0.05, 0.2]},
                cfdm_M=[2], cfdm_steps=200, h_equivalent=True, datasets=DATASETS, cost_P=20000, cost_steps=5, seed=0)


class SnapshotMMSOLD(MMSOLD):
    "MMSOLD that also keeps the particles after the steps listed in `checkpoints` (set before `sample`)."

    def _trace_extra(self, state, info):
        self._k = getattr(self, "_k", 0) + 1
        if self._k in getattr(self, "checkpoints", ()):
            self.snapshots_[self._k] = to_particles(state.Y, self.mean_, self.factor_).copy()
        return {}

    def sample_snapshots(self, n_samples, checkpoints, random_state=None):
        "The particles after each step count in `checkpoints` (one run of `n_steps`), as {T: (P, d)}."
        self.checkpoints, self.snapshots_, self._k = set(checkpoints), {}, 0
        Z, _ = self.sample(n_samples, random_state=random_state, return_trace=True)
        self.snapshots_[self.n_steps] = Z
        return dict(self.snapshots_)


def paper_mmsold(delta, sigma, M, h, T, seed, **kw):
    "The paper's MM-SOLD configuration (the names are the contract of issue 13)."
    return SnapshotMMSOLD(score_estimator="nearest_remainder", n_neighbors=50, n_remainder=50, n_noise=M,
                          target_covariance="mixture", init="data", step_size=h, n_steps=T, delta=delta,
                          sigma=sigma, integrator="lm", random_state=seed, **kw)


def fit_quiet(model, X):
    "fit, collecting (not printing) the step-size warning: h = 5e-4 is above the explicit bound by design."
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        model.fit(X)
    return model, [str(x.message) for x in w]


def scores(Z, X_train, fresh, held, n_proj):
    rep = memorisation_report(Z, X_train, held)
    return dict(sw2_fresh=sliced_wasserstein(Z, fresh, n_proj, random_state=0),
                sw2_train=sliced_wasserstein(Z, X_train, n_proj, random_state=0),
                memorised=rep["share"], memorised_heldout=rep["share_heldout"], median_nn=rep["median_nn"],
                median_nn_heldout=rep["median_nn_heldout"], median_nn_train=rep["median_nn_train"],
                # outliers: largest distance from the training mean, in units of the training spread
                max_radius=float(np.sqrt(((Z - X_train.mean(0)) ** 2).sum(1)).max()
                                 / np.sqrt(np.trace(np.cov(X_train, rowvar=False, bias=True)))),
                share_outside=float(np.mean(np.abs(Z).max(1) > 1.05 * np.abs(X_train).max())))


def measure_paper_cell_cost(X, cfg):
    "CPU seconds per step of one paper-size cell (P = cost_P particles), and the implied cost of T = 3,000."
    m, _ = fit_quiet(paper_mmsold(cfg["delta"], 0.05, 2, cfg["h"], cfg["cost_steps"], 0), X)
    c0 = time.process_time()
    m.sample(cfg["cost_P"])
    per_step = (time.process_time() - c0) / cfg["cost_steps"]
    return dict(P=cfg["cost_P"], cpu_seconds_per_step=per_step, cpu_seconds_per_cell_T3000=per_step * PAPER["T"],
                cpu_hours_full_grid=per_step * PAPER["T"] * len(PAPER["M"]) * len(PAPER["sigma"]) * 2 / 3600)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fast", action="store_true", help="tiny settings (for make test); writes to paper_figs/_fast/")
    args = ap.parse_args(argv)
    cfg = settings(args.fast)
    out_dir = HERE / "_fast" if args.fast else HERE
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start, c_start = time.perf_counter(), time.process_time()
    print("fig2 (paper settings):", json.dumps({k: v for k, v in cfg.items()}, default=str))
    split_cfg = rt.settings(False)                     # the existing fig2's data: N = 1,000 training points
    res = dict(settings=cfg, paper=PAPER, datasets={})
    warn_msgs = set()
    s_show = 0.05 if 0.05 in cfg["sigma"] else cfg["sigma"][-1]
    shown = {}
    for name in cfg["datasets"]:
        X, held, _ = rt.make_splits(name, split_cfg)   # held: the validation split (1,000 fresh points)
        fresh = load_toy(name, cfg["n_fresh"], random_state=777 + DATASETS.index(name))
        ref = dict(sw2_fresh=sliced_wasserstein(held, fresh, cfg["n_projections"], random_state=0),
                   sw2_train=sliced_wasserstein(held, X, cfg["n_projections"], random_state=0))
        if name == cfg["datasets"][0]:
            res["paper_cell_cost"] = measure_paper_cell_cost(X, cfg)
            print(f"  cost of one paper-size step (P = {cfg['cost_P']}): "
                  f"{res['paper_cell_cost']['cpu_seconds_per_step']:.3f} CPU s -> "
                  f"{res['paper_cell_cost']['cpu_seconds_per_cell_T3000'] / 60:.1f} CPU min per cell, "
                  f"{res['paper_cell_cost']['cpu_hours_full_grid']:.1f} CPU h for the full grid", flush=True)
        rows = []
        for M in cfg["M"]:
            for s in cfg.get("sigma_by_M", {}).get(M, cfg["sigma"]):
                c0 = time.process_time()
                m, w = fit_quiet(paper_mmsold(cfg["delta"], s, M, cfg["h"], cfg["T"], cfg["seed"]), X)
                warn_msgs.update(w)
                snaps = m.sample_snapshots(cfg["P"], cfg["checkpoints"], random_state=cfg["seed"])
                cpu = time.process_time() - c0
                if M == cfg["M"][0] and s == s_show:
                    shown[(name, "MM-SOLD")] = snaps[cfg["T"]]
                for T, Z in sorted(snaps.items()):
                    rows.append(dict(method="MM-SOLD", M=M, sigma=s, T=T, cpu_seconds=cpu,
                                     **scores(Z, X, fresh, held, cfg["n_projections"])))
                r = rows[-1]
                print(f"  {name:12s} MM-SOLD  M={M} sigma={s:<5g} T={r['T']}: SW2 fresh {r['sw2_fresh']:.4f} "
                      f"train {r['sw2_train']:.4f} memorised {r['memorised']:.3f} max radius {r['max_radius']:.2f} ({cpu:.1f} CPU s)", flush=True)
        # the same cells at the step the paper's h would be if its Langevin step were taken in the data's own
        # coordinates (unpreconditioned): ours is preconditioned by Sigma*, so h_Y = h / lambda_max(Sigma*)
        lam_max = float(np.linalg.eigvalsh(np.cov(X, rowvar=False, bias=True) + cfg["delta"] ** 2 * np.eye(2))[-1])
        for s in (cfg["sigma"] if cfg["h_equivalent"] else []):
            c0 = time.process_time()
            hz = cfg["h"] / lam_max
            m, _ = fit_quiet(paper_mmsold(cfg["delta"], s, cfg["M"][0], hz, cfg["T"], cfg["seed"]), X)
            Z = m.sample(cfg["P"], random_state=cfg["seed"])
            rows.append(dict(method="MM-SOLD h/lambda_max", M=cfg["M"][0], sigma=s, T=cfg["T"], h=hz,
                             cpu_seconds=time.process_time() - c0, **scores(Z, X, fresh, held, cfg["n_projections"])))
            r = rows[-1]
            print(f"  {name:12s} MM-SOLD h={hz:.2e} M={cfg['M'][0]} sigma={s:<5g}: SW2 fresh {r['sw2_fresh']:.4f} "
                  f"train {r['sw2_train']:.4f} memorised {r['memorised']:.3f} max radius {r['max_radius']:.2f}", flush=True)
        for M in cfg["cfdm_M"]:
            for s in cfg["sigma"]:
                c0 = time.process_time()
                cf = SigmaCFDM(sigma=s, n_steps=cfg["cfdm_steps"], t0=cfg["h"], n_neighbors=None, n_noise=M,
                               random_state=cfg["seed"]).fit(X)
                Z = cf.sample(cfg["P"])
                cpu = time.process_time() - c0
                if M == cfg["cfdm_M"][0] and s == s_show:
                    shown[(name, "sigma-CFDM")] = Z
                rows.append(dict(method="sigma-CFDM", M=M, sigma=s, T=cfg["cfdm_steps"], cpu_seconds=cpu,
                                 **scores(Z, X, fresh, held, cfg["n_projections"])))
                r = rows[-1]
                print(f"  {name:12s} sigma-CFDM M={M} sigma={s:<5g}: SW2 fresh {r['sw2_fresh']:.4f} "
                      f"train {r['sw2_train']:.4f} memorised {r['memorised']:.3f} ({cpu:.1f} CPU s)", flush=True)
        res["datasets"][name] = dict(reference=ref, rows=rows)
        print(f"  {name}: reference SW2(held-out 1,000, fresh) {ref['sw2_fresh']:.4f}, "
              f"SW2(held-out, train) {ref['sw2_train']:.4f}", flush=True)
    res["step_size_warnings"] = sorted(warn_msgs)[:2]
    res["wall_seconds"], res["cpu_seconds"] = time.perf_counter() - t_start, time.process_time() - c_start
    (out_dir / "fig2_paper_settings.json").write_text(json.dumps(res, indent=1, default=float))
    plot(res, cfg, out_dir, shown, s_show)
    write_md(res, cfg, out_dir)
    print(f"fig2 (paper settings): {res['wall_seconds']:.1f} s wall, {res['cpu_seconds']:.1f} CPU s; "
          f"wrote {out_dir / 'fig2_paper_settings.png'}")
    return res


def _pick(rows, **kw):
    return [r for r in rows if all(r[k] == v for k, v in kw.items())]


def plot(res, cfg, out_dir, shown, s_show):
    names = list(res["datasets"])
    fig, axes = plt.subplots(len(names), 4, figsize=(15, 3.8 * len(names)), squeeze=False)
    split_cfg = rt.settings(False)
    for i, name in enumerate(names):
        rows, ref = res["datasets"][name]["rows"], res["datasets"][name]["reference"]
        X = rt.make_splits(name, split_cfg)[0]
        ax = axes[i]
        ax[0].scatter(*X.T, s=1.5, c="0.4", lw=0)
        ax[0].set_title(f"{name}: training set (N = {len(X)})", fontsize=9)
        Zm, Zc = shown[(name, "MM-SOLD")], shown[(name, "sigma-CFDM")]
        for a, Z, c, lab in ((ax[1], Zm, "tab:blue", f"MM-SOLD, M = {cfg['M'][0]}, T = {cfg['T']}"),
                             (ax[2], Zc, "tab:red", f"sigma-CFDM, M = {cfg['cfdm_M'][0]}, {cfg['cfdm_steps']} steps")):
            a.scatter(*Z.T, s=1.5, c=c, lw=0)
            a.set_title(f"{lab}, sigma = {s_show}", fontsize=9)
        for a in ax[:3]:
            a.set_aspect("equal")
            a.set_xlim(ax[0].get_xlim()); a.set_ylim(ax[0].get_ylim())
        a = ax[3]
        for M, col in zip(cfg["M"], ("tab:blue", "tab:cyan", "navy")):
            rs = sorted(_pick(rows, method="MM-SOLD", M=M, T=cfg["T"]), key=lambda r: r["sigma"])
            a.plot([r["sigma"] for r in rs], [r["sw2_fresh"] for r in rs], "o-", ms=3, c=col, label=f"MM-SOLD M={M}: to fresh")
            a.plot([r["sigma"] for r in rs], [r["sw2_train"] for r in rs], "o:", ms=3, c=col, label=f"MM-SOLD M={M}: to train")
        rs = sorted(_pick(rows, method="MM-SOLD h/lambda_max"), key=lambda r: r["sigma"])
        if rs:
            a.plot([r["sigma"] for r in rs], [r["sw2_fresh"] for r in rs], "^-", ms=3, c="tab:green",
                   label=f"MM-SOLD h/lambda_max = {rs[0]['h']:.1e}, M={cfg['M'][0]}: to fresh")
        for M in cfg["cfdm_M"]:
            rs = sorted(_pick(rows, method="sigma-CFDM", M=M), key=lambda r: r["sigma"])
            a.plot([r["sigma"] for r in rs], [r["sw2_fresh"] for r in rs], "s-", ms=3, c="tab:red", label=f"sigma-CFDM M={M}: to fresh")
            a.plot([r["sigma"] for r in rs], [r["sw2_train"] for r in rs], "s:", ms=3, c="tab:red", label=f"sigma-CFDM M={M}: to train")
        a.axhline(ref["sw2_fresh"], c="k", ls="--", lw=1, label="reference: held-out to fresh")
        a.set_xscale("symlog", linthresh=0.01)
        a.set_yscale("log")
        a.set_xlabel("sigma"); a.set_ylabel("SW2"); a.set_title(f"{name}: SW2 (512 projections)", fontsize=9)
        a.legend(fontsize=6)
    fig.suptitle(f"Fig. 2 at the paper's settings (delta = {cfg['delta']}, h = {cfg['h']}, K = L = 50, data start, "
                 f"mixture target), scaled: P = {cfg['P']}, T = {cfg['T']} (paper: 20,000 and 3,000)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out_dir / "fig2_paper_settings.png", dpi=120)
    plt.close(fig)


def write_md(res, cfg, out_dir):
    lines = [f"# Fig. 2 at the paper's settings (P = {cfg['P']}, T = {cfg['T']}, one seed)", ""]
    for name, d in res["datasets"].items():
        ref = d["reference"]
        lines += [f"## {name}", "", f"reference: SW2(held-out 1,000, fresh) = {ref['sw2_fresh']:.4f}; "
                  f"SW2(held-out, train) = {ref['sw2_train']:.4f}", "",
                  "| method | M | sigma | T | SW2 fresh | SW2 train | memorised (held-out) | median NN dist (held-out; train LOO) | max radius | share outside data box | CPU s |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in d["rows"]:
            lines.append(f"| {r['method']} | {r['M']} | {r['sigma']:g} | {r['T']} | {r['sw2_fresh']:.4f} | "
                         f"{r['sw2_train']:.4f} | {r['memorised']:.3f} ({r['memorised_heldout']:.3f}) | "
                         f"{r['median_nn']:.4f} ({r['median_nn_heldout']:.4f}; {r['median_nn_train']:.4f}) | "
                         f"{r['max_radius']:.2f} | {r['share_outside']:.3f} | {r['cpu_seconds']:.1f} |")
        lines.append("")
    c = res["paper_cell_cost"]
    lines += [f"Cost of the paper's cell size: {c['cpu_seconds_per_step']:.3f} CPU s per step at P = {c['P']} -> "
              f"{c['cpu_seconds_per_cell_T3000'] / 60:.1f} CPU min per cell of 3,000 steps, "
              f"{c['cpu_hours_full_grid']:.1f} CPU h for the paper's grid (2 data sets x 3 M x 10 sigma).",
              f"Run: {res['wall_seconds']:.0f} s wall, {res['cpu_seconds']:.0f} CPU s."]
    (out_dir / "fig2_paper_settings.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
