#!/usr/bin/env python
"""What limits KID on Fashion-MNIST: the autoencoder's decoder floor, and whether MM-SOLD follows it down (issue 14).

`fig4_fashion.py` finds every Langevin row within about 0.4e-2 of the floor, the KID of the test images
encoded and decoded (2.71e-2 for the table's autoencoder, 17 times the KID of training against test
images). This script trains larger autoencoders with the same recipe (`mmsold.autoencoder.ConvAutoencoder`,
seed 0, cached) and, for each, measures: the test reconstruction MSE, the floor, the data start (P random
training latents + delta-noise), and MM-SOLD and naive SOLD at the same step, 0.8 x the latent's own
stability bound 2 delta^2 / lambda_max(Sigma*) (inside the bound for both; MM-SOLD's validated step in
the table's latent is 2.5e-4, about 0.8 x its bound 3.0e-4), T = 100, with sampler seeds 0 and 1 (a seed
gives the data start and both samplers the same starting cloud). Everything else (splits, classifier
features, KID subsets, P, the paper's estimator settings, the partial whitening) is `fig4_fashion.py`'s,
so the first autoencoder, the table's, is also a check against `fig4_fashion.md`.

    python paper_figs/fashion_ae_floor.py          # full: 3 autoencoders, about 25 minutes on one core
    python paper_figs/fashion_ae_floor.py --fast   # tiny, writes paper_figs/_fast/
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
from fig4_fashion import (PAPER, Latent, Scorer, build_models, data_start_cloud, load_or_skip, mmsold,  # noqa: E402
                          run_sampler, stiff_directions)
from fig4_fashion import settings as fig4_settings  # noqa: E402
from mmsold.autoencoder import ConvAutoencoder  # noqa: E402


def settings(fast: bool) -> dict:
    "fig4_fashion.py's settings, the autoencoders to compare (the table's first), the step fraction and seeds."
    base = fig4_settings(fast)
    aes = ([dict(width=8, n_epochs=4, batch_size=32), dict(width=8, n_epochs=8, batch_size=32)] if fast else
           [dict(base["ae"]), dict(base["ae"], n_epochs=20), dict(base["ae"], width=64, n_epochs=12)])
    return dict(fig4=base, autoencoders=aes, fraction=0.8, seeds=[0, 1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="tiny settings; write to paper_figs/_fast/")
    ap.add_argument("--cache-dir", default="default", help="model cache directory ('default' = ~/.cache/mmsold)")
    args = ap.parse_args(argv)
    out_dir = output_dir(args.fast)
    if skip_without_torch():
        return 0
    cfg = settings(args.fast)
    fcfg = cfg["fig4"]
    t_all = time.perf_counter()
    data = load_or_skip(fcfg)
    if data is None:
        return 0
    X_train, y_train, _, X_test, _ = data
    clf, _, _ = build_models({**fcfg, "latents": []}, X_train, y_train, args.cache_dir)
    score = Scorer(clf, X_train, X_test, fcfg)
    results = []
    for ae_cfg in cfg["autoencoders"]:
        c0 = time.process_time()
        ae = ConvAutoencoder(latent_dim=fcfg["latent_dim"], random_state=0, cache_dir=args.cache_dir, **ae_cfg).fit(X_train)
        fit_cpu = time.process_time() - c0
        L = Latent(ae, fcfg["k"], X_train)
        rec = L.decode(L.encode(X_test))
        stiff = stiff_directions(L.W_train, PAPER["step_size"])
        h = cfg["fraction"] * stiff["bound"]
        res = dict(ae=ae_cfg, fit_cpu_seconds=fit_cpu, from_cache=ae.from_cache_, final_train_loss=float(ae.history_[-1]),
                   reconstruction_mse=float(np.mean((rec - X_test) ** 2)), floor=score(rec)[0], step_size=h, **stiff, runs=[])
        print(f"[AE width {ae_cfg['width']}, {ae_cfg['n_epochs']} epochs] fit {fit_cpu:.0f} CPU s (cache: {ae.from_cache_}); "
              f"MSE {res['reconstruction_mse']:.4f}; floor KID {res['floor']['kid']:.3e}; h = {h:.3g}", flush=True)
        for seed in cfg["seeds"]:
            run = dict(seed=seed)
            run["data start"] = score(L.decode(data_start_cloud(L.W_train, fcfg["P"], np.random.default_rng(seed))))[0]
            for mname, mm in (("MM-SOLD", True), ("naive SOLD", False)):
                Z, cpu, note, swing = run_sampler(mmsold(h, fcfg["T"], mm), L.W_train, fcfg["P"], seed)
                run[mname] = dict(score(L.decode(Z))[0], cpu_seconds=cpu, **swing) if Z is not None else dict(note=note)
            res["runs"].append(run)
            print(f"  seed {seed}: " + ", ".join(f"{k} {v['kid']:.3e}" if "kid" in v else f"{k} {v['note'][:60]}"
                                                 for k, v in run.items() if k != "seed"), flush=True)
        results.append(res)
    seconds = time.perf_counter() - t_all
    methods = ("data start", "MM-SOLD", "naive SOLD")

    def kids(res, m):
        return np.array([r[m].get("kid", np.nan) for r in res["runs"]])
    lines = [f"Fashion-MNIST, {fcfg['n_train']} training / {fcfg['n_test']} test images, P = {fcfg['P']}, T = {fcfg['T']}; "
             f"classifier features as in fig4_fashion.md; both samplers at {cfg['fraction']} x each latent's stability bound; "
             f"KID as the mean over sampler seeds {cfg['seeds']} (per-seed values in the JSON). {seconds:.0f} s wall.", "",
             "| autoencoder | fit CPU s | test MSE | floor: KID | FID | data start: KID | MM-SOLD: KID | naive SOLD: KID | "
             "MM-SOLD minus naive, per seed | MM-SOLD: FID | naive SOLD: FID | MM-SOLD minus floor | h |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for res in results:
        a = res["ae"]
        k = {m: kids(res, m) for m in methods}
        fid = {m: np.mean([r[m].get("fid", np.nan) for r in res["runs"]]) for m in methods}
        fit = f"{res['fit_cpu_seconds']:.0f}" + (" (cached)" if res["from_cache"] else "")
        lines.append(f"| width {a['width']}, {a['n_epochs']} epochs | {fit} | {res['reconstruction_mse']:.4f} | "
                     f"{res['floor']['kid']:.3e} | {res['floor']['fid']:.3f} | {k['data start'].mean():.3e} | {k['MM-SOLD'].mean():.3e} | "
                     f"{k['naive SOLD'].mean():.3e} | " + ", ".join(f"{d:+.2e}" for d in k["MM-SOLD"] - k["naive SOLD"]) +
                     f" | {fid['MM-SOLD']:.3f} | {fid['naive SOLD']:.3f} | {k['MM-SOLD'].mean() - res['floor']['kid']:+.2e} | "
                     f"{res['step_size']:.3g} |")
    (out_dir / "fashion_ae_floor.md").write_text("\n".join(lines) + "\n")
    (out_dir / "fashion_ae_floor.json").write_text(json.dumps(dict(settings=cfg, results=results, wall_seconds=seconds),
                                                             indent=1, default=str))
    print("\n".join(lines))
    print(f"wrote {out_dir}/fashion_ae_floor.{{json,md}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
