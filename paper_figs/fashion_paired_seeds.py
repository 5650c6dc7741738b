#!/usr/bin/env python
"""MM-SOLD against naive SOLD on Fashion-MNIST with enough paired seeds to measure the difference (issue 14).

`fig4_fashion.py` chooses each sampler's step from one run per step and then runs three seeds: the two
samplers' KIDs at their chosen steps differ by 0.3e-3 while single runs scatter by about 1e-3, so that
table cannot say which is lower. Here both samplers run on one grid of steps, given as fractions of the
latent's stability bound 2 delta^2 / lambda_max(Sigma*) (the grid spans both samplers' stable steps in
`fig4_fashion.py`), with twenty sampler seeds per step in the autoencoder latents and ten in PCA. A seed
fixes the starting cloud (P random training latents plus delta-noise, the data start) and both samplers
start from it, so each seed gives a paired
difference MM-SOLD minus naive SOLD (and each sampler minus its own start). KID uses the same fixed
subsets of the same 3,000 test images for every set, so the pairs share that noise too.

Each sampler's best step is the one with the lowest mean *validation* KID over the seeds (a separate
split of 3,000 training-set images that no sampler sees); the test KIDs of the same runs are reported.
Everything else (splits, classifier features, P, T, the paper's estimator settings, the partial
whitening) is `fig4_fashion.py`'s; the latents are the PCA latent, the table's autoencoder and the largest of
`fashion_ae_floor.py` (same recipe and seed, cached on disk).

    python paper_figs/fashion_paired_seeds.py                  # all three: about 2 h per AE latent, 1 h for PCA, on one core
    python paper_figs/fashion_paired_seeds.py --latent table   # one of them (run them in parallel, one per core)
    python paper_figs/fashion_paired_seeds.py --render         # rewrite the .md from the saved .json
    python paper_figs/fashion_paired_seeds.py --fast          # tiny, writes paper_figs/_fast/

Runs already saved in the .json for the same latent and grid are kept, so raising the seeds in `settings()`
runs only the new seeds.
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
from fig4_fashion import (Latent, Scorer, build_models, data_start_cloud, load_or_skip, mmsold,  # noqa: E402
                          run_sampler, stiff_directions)
from fig4_fashion import settings as fig4_settings  # noqa: E402
from mmsold.autoencoder import ConvAutoencoder  # noqa: E402
from mmsold.latent import PCALatent  # noqa: E402
from mmsold.metrics import kernel_inception_distance  # noqa: E402

SAMPLERS = (("MM-SOLD", True), ("naive SOLD", False))
LATENTS = ("table", "larger", "PCA")


def settings(fast: bool) -> dict:
    "fig4_fashion.py's settings, the autoencoders by name, the step grid (fractions of the bound) and the seeds."
    base = fig4_settings(fast)
    if fast:
        aes = {"table": dict(base["ae"]), "larger": dict(base["ae"], width=12)}
        return dict(fig4=base, autoencoders=aes, fractions=[0.05, 0.8], seeds={n: [0, 1] for n in LATENTS})
    aes = {"table": dict(base["ae"]), "larger": dict(base["ae"], width=64, n_epochs=12)}
    # twenty seeds in the autoencoder latents, where the paired difference is about 2 standard errors at ten
    seeds = dict(table=list(range(20)), larger=list(range(20)), PCA=list(range(10)))
    return dict(fig4=base, autoencoders=aes, fractions=[0.03, 0.17, 0.33, 0.8], seeds=seeds)


def kid(scorer, images):
    "KID only, with `Scorer`'s classifier features, units and fixed subsets (the other metrics are fig4_fashion.py's)."
    F = scorer.clf.transform(images) / scorer.unit
    return kernel_inception_distance(F, scorer.F_test, random_state=0, **scorer.cfg["kid"])[0]


def paired(a, b):
    "Mean, standard error and sign count of the paired differences a - b (NaN pairs dropped)."
    d = np.asarray(a, float) - np.asarray(b, float)
    d = d[np.isfinite(d)]
    se = float(np.std(d, ddof=1) / np.sqrt(len(d))) if len(d) > 1 else np.nan
    return dict(mean=float(np.mean(d)) if len(d) else np.nan, se=se, n=int(len(d)), n_below=int(np.sum(d < 0)))


def describe(name, ae_cfg):
    "How a latent is named in the tables."
    return "PCA latent" if name == "PCA" else f"{name} autoencoder (width {ae_cfg['width']}, {ae_cfg['n_epochs']} epochs)"


def reusable(prev, res):
    "Whether the runs recorded in `prev` came from the same latent as `res` (same recipe, floor KID and steps)."
    if not prev:
        return False
    return (prev.get("ae") == res["ae"] and np.isclose(prev["floor"], res["floor"], rtol=1e-9, atol=0)
            and np.allclose(prev["steps"], res["steps"], rtol=1e-9, atol=0))


def run_latent(name, ae_cfg, cfg, data, scorers, cache_dir, prev=None):
    """Every (sampler, step, seed) run in one latent (an autoencoder's, or PCA with `ae_cfg` None); returns the records.

    Runs already in `prev` (this latent's records from the saved JSON) are kept, not rerun, when `prev` comes
    from the same latent: adding seeds costs only the new seeds."""
    fcfg = cfg["fig4"]
    X_train, X_test = data
    score, val_score = scorers
    c0 = time.process_time()
    if name == "PCA":
        enc = PCALatent(n_components=fcfg["latent_dim"], whiten=0.0).fit(X_train)
    else:
        enc = ConvAutoencoder(latent_dim=fcfg["latent_dim"], random_state=0, cache_dir=cache_dir, **ae_cfg).fit(X_train)
    fit_cpu = time.process_time() - c0
    L = Latent(enc, fcfg["k"], X_train)
    rec = L.decode(L.encode(X_test))
    stiff = stiff_directions(L.W_train, 5e-4)
    steps = [f * stiff["bound"] for f in cfg["fractions"]]
    res = dict(ae=ae_cfg, fit_cpu_seconds=fit_cpu, from_cache=getattr(enc, "from_cache_", False),
               reconstruction_mse=float(np.mean((rec - X_test) ** 2)), floor=kid(score, rec),
               bound=stiff["bound"], steps=steps, start={}, runs={m: {} for m, _ in SAMPLERS})
    print(f"[{name}] {describe(name, ae_cfg)}: fit {fit_cpu:.0f} CPU s (cache {res['from_cache']}); "
          f"floor KID {res['floor']:.3e}; bound {stiff['bound']:.3g}; steps {[f'{h:.3g}' for h in steps]}", flush=True)
    if reusable(prev, res):
        res["start"], res["runs"] = prev["start"], prev["runs"]
        res["wall_seconds_before"] = prev.get("wall_seconds", 0.0)
        print(f"[{name}] keeping the {len(prev['start'])} seeds already recorded", flush=True)
    elif prev:
        print(f"[{name}] the saved runs come from a different latent (recipe, floor KID or steps); rerunning all", flush=True)
    seeds = [s for s in cfg["seeds"][name] if str(s) not in res["start"]]
    for seed in seeds:
        ims = L.decode(data_start_cloud(L.W_train, fcfg["P"], np.random.default_rng(seed)))
        res["start"][str(seed)] = dict(val=kid(val_score, ims), test=kid(score, ims))
    for mname, mm in SAMPLERS:
        for h in steps:
            recs = res["runs"][mname].setdefault(f"{h:.6g}", {})
            for seed in seeds:
                Z, cpu, note, swing = run_sampler(mmsold(h, fcfg["T"], mm), L.W_train, fcfg["P"], seed)
                if Z is None:
                    recs[str(seed)] = dict(val=np.inf, test=np.nan, cpu_seconds=cpu, note=note)
                else:
                    ims = L.decode(Z)
                    recs[str(seed)] = dict(val=kid(val_score, ims), test=kid(score, ims), cpu_seconds=cpu, note=note, **swing)
                r = recs[str(seed)]
                print(f"[{name}] {mname} h={h:.3g} seed {seed}: validation {r['val']:.4e} test {r['test']:.4e} "
                      f"({cpu:.0f} CPU s) {note[:60]}", flush=True)
    return res


def recorded_seeds(res):
    "The seeds with a start and a run for every (sampler, step) in one latent's records."
    return sorted((s for s in res["start"] if all(s in r for m in res["runs"].values() for r in m.values())), key=int)


def summarise(name, res):
    "Markdown lines for one latent: the per-step table and the paired comparison at each sampler's best step."
    S = recorded_seeds(res)
    start = {k: np.array([res["start"][s][k] for s in S]) for k in ("val", "test")}

    def arr(m, h, k):
        return np.array([res["runs"][m][h][s][k] for s in S], float)
    keys = list(res["runs"]["MM-SOLD"])
    best = {m: min(keys, key=lambda h: np.mean(arr(m, h, "val")) if np.all(np.isfinite(arr(m, h, "val"))) else np.inf)
            for m, _ in SAMPLERS}
    a = res.get("ae")
    lines = [f"**{describe(name, a)}** (test MSE {res['reconstruction_mse']:.4f}; "
             f"floor KID {res['floor']:.3e}; bound {res['bound']:.3g}). Data start: test KID {start['test'].mean():.4e} "
             f"+- {start['test'].std(ddof=1):.1e} (sd over {len(S)} seeds).", "",
             "| h | h / bound | MM-SOLD: validation KID | MM-SOLD: test KID (sd) | naive SOLD: validation KID | naive SOLD: test KID (sd) | "
             "MM minus naive, test: mean +- se (MM lower) | MM minus start | naive minus start |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]

    def fmt(p):
        return f"{p['mean']:+.2e} +- {p['se']:.1e} ({p['n_below']}/{p['n']})"
    for h in keys:
        cells = []
        for m, _ in SAMPLERS:
            v, t = arr(m, h, "val"), arr(m, h, "test")
            if not np.all(np.isfinite(t)):
                cells += ["diverged", f"{np.sum(~np.isfinite(t))}/{len(S)} runs diverged"]
                continue
            cells += [f"{v.mean():.4e}" + (" (best)" if h == best[m] else ""), f"{t.mean():.4e} ({t.std(ddof=1):.1e})"]
        d = paired(arr("MM-SOLD", h, "test"), arr("naive SOLD", h, "test"))
        lines.append(f"| {float(h):.3g} | {float(h) / res['bound']:.2f} | " + " | ".join(cells) + f" | {fmt(d)} | "
                     f"{fmt(paired(arr('MM-SOLD', h, 'test'), start['test']))} | {fmt(paired(arr('naive SOLD', h, 'test'), start['test']))} |")
    d = paired(arr("MM-SOLD", best["MM-SOLD"], "test"), arr("naive SOLD", best["naive SOLD"], "test"))
    lines += ["", f"Each at its best validation step (MM-SOLD h = {float(best['MM-SOLD']):.3g}, naive SOLD h = "
              f"{float(best['naive SOLD']):.3g}): test KID MM-SOLD minus naive SOLD {d['mean']:+.2e} +- {d['se']:.1e} "
              f"(standard error over {d['n']} paired seeds; z = {d['mean'] / d['se']:.1f}); MM-SOLD lower in "
              f"{d['n_below']} of {d['n']} seeds.", ""]
    return lines, dict(best=best, best_pair=d)


def saved_results(path, cfg):
    "The per-latent records in the saved JSON if it was written with the same fig4 settings and step grid, else {}."
    old = json.loads(path.read_text()) if path.exists() else {}
    same = all(old.get("settings", {}).get(k) == json.loads(json.dumps(cfg[k])) for k in ("fig4", "fractions"))
    return old.get("results", {}) if same else {}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="tiny settings; write to paper_figs/_fast/")
    ap.add_argument("--latent", choices=["table", "larger", "PCA", "all"], default="all",
                    help="which latent to run: an autoencoder's (the table's or the larger one) or the PCA latent")
    ap.add_argument("--render", action="store_true", help="only rewrite the .md from the saved .json")
    ap.add_argument("--cache-dir", default="default", help="model cache directory ('default' = ~/.cache/mmsold)")
    args = ap.parse_args(argv)
    out_dir = output_dir(args.fast)
    cfg = settings(args.fast)
    fcfg = cfg["fig4"]
    t_all = time.perf_counter()
    new = {}
    path = out_dir / "fashion_paired_seeds.json"
    old_results = saved_results(path, cfg)  # extended for the latents run now
    if not args.render:  # --render needs neither the data nor the models
        if skip_without_torch():
            return 0
        data = load_or_skip(fcfg)
        if data is None:
            return 0
        X_train, y_train, X_val, X_test, _ = data
        clf, _, _ = build_models({**fcfg, "latents": []}, X_train, y_train, args.cache_dir)
        scorers = Scorer(clf, X_train, X_test, fcfg), Scorer(clf, X_train, X_val, fcfg)
        for name in LATENTS if args.latent == "all" else [args.latent]:
            t0 = time.perf_counter()
            res = run_latent(name, cfg["autoencoders"].get(name), cfg, (X_train, X_test), scorers, args.cache_dir,
                             old_results.get(name))
            res["wall_seconds"] = res.pop("wall_seconds_before", 0.0) + time.perf_counter() - t0
            new[name] = res
    # merge with the other latents' results, read again: a run in parallel may have written them meanwhile
    results = saved_results(path, cfg)
    results.update(json.loads(json.dumps(new, default=float)))
    lines = [f"Fashion-MNIST, {fcfg['n_train']} training / {fcfg['n_val']} validation / {fcfg['n_test']} test images, "
             f"P = {fcfg['P']}, T = {fcfg['T']}, the paper's estimator settings; classifier features and KID as in "
             f"fig4_fashion.md; each sampler seed is one starting cloud shared by both samplers. Test KID means and sds "
             f"over the seeds; differences are paired by seed (mean +- standard error; in brackets the number of seeds "
             f"where the first is lower). Seeds and wall time (summed over the runs that recorded them) per latent: "
             + ", ".join(f"{k} {len(recorded_seeds(v))} seeds, {v['wall_seconds']:.0f} s" for k, v in results.items())
             + ".", ""]
    summary = {}
    for name in [n for n in LATENTS if n in results]:
        more, summary[name] = summarise(name, results[name])
        lines += more
    (out_dir / "fashion_paired_seeds.md").write_text("\n".join(lines))
    path.write_text(json.dumps(dict(settings=cfg, results=results, summary=summary), indent=1, default=float))
    print("\n".join(lines))
    print(f"wrote {out_dir}/fashion_paired_seeds.{{json,md}}; total {time.perf_counter() - t_all:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
