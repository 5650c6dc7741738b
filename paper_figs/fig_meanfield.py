"""Mean-field limit study (issue 3): the one-particle marginal of the P-particle MM-SOLD system against
pi_MM (the tilt, solved on a grid) and pi_naive, in 1D and 2D, for P in {10, 30, 100, 300, 1000}.

Usage:  python paper_figs/fig_meanfield.py [--fast] [--out DIR]
Writes  DIR/fig_meanfield.png and DIR/meanfield.json; DIR defaults to paper_figs/ (full settings, about
2.5 minutes on one core) or paper_figs/_fast/ with --fast (about 20 s).
Everything is seeded; the same command gives the same numbers.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from mmsold.meanfield import (bimodal_1d, fit_rate, mean_field_study_1d, mean_field_study_2d, summarise_rates,
                              three_clusters_2d)

P_VALUES = (10, 30, 100, 300, 1000)
FULL = dict(horizon=(100.0, 50.0), particles_per_step=1000, block_time=10.0,
            h2=dict(horizon=20.0, burn_in=3.0, particles_per_step=1000, n_grid=321, n_directions=64))
FAST = dict(horizon=(10.0, 3.0), particles_per_step=300, block_time=None,
            h2=dict(horizon=3.0, burn_in=2.0, particles_per_step=300, n_grid=121, n_directions=32))


def run(fast: bool, verbose: bool = True):
    cfg = FAST if fast else FULL
    X1 = bimodal_1d()
    t0 = time.perf_counter()
    s1 = mean_field_study_1d(X1, 0.3, 0.8, P_values=P_VALUES, horizon=cfg["horizon"],
                             particles_per_step=cfg["particles_per_step"], block_time=cfg["block_time"],
                             random_state=0, verbose=verbose)
    t1 = time.perf_counter()
    X2 = three_clusters_2d()
    s2 = mean_field_study_2d(X2, 0.3, 0.6, P_values=P_VALUES, random_state=0, verbose=verbose, **cfg["h2"])
    t2 = time.perf_counter()
    return s1, s2, dict(seconds_1d=t1 - t0, seconds_2d=t2 - t1)


def summarise(s1, s2, timing, fast):
    rows1 = [{k: v for k, v in r.items() if k != "cdf"} for r in s1["rows"]]
    hs = sorted({r["h"] for r in rows1}, reverse=True)
    rates_all = summarise_rates(s1)
    rates_small = summarise_rates(s1, P_fit=(10, 30, 100))
    acc = {}
    for h in hs:
        by = {r["P"]: r for r in rows1 if r["h"] == h}
        w = [by[P]["w1_mm"] for P in P_VALUES]
        acc[f"h={h:.4f}"] = dict(
            w1_P300_over_w1_naive_mm=by[300]["w1_mm"] / s1["w1_naive_mm"],
            quarter_criterion_met=bool(by[300]["w1_mm"] <= 0.25 * s1["w1_naive_mm"]),
            w1_monotone_decreasing=bool(all(a > b for a, b in zip(w, w[1:]))),
            w1_P10_gt_P300=bool(by[10]["w1_mm"] > by[300]["w1_mm"]))
    # Lam(P, h) = Lam_inf + a / P + b h, least squares over all rows
    A = np.c_[np.ones(len(rows1)), [1.0 / r["P"] for r in rows1], [r["h"] for r in rows1]]
    coef = np.linalg.lstsq(A, [r["Lam"] for r in rows1], rcond=None)[0]
    rows2 = [{k: v for k, v in r.items()} for r in s2["rows"]]
    P2 = [r["P"] for r in rows2]
    return dict(
        mode="fast" if fast else "full",
        one_d=dict(data="bimodal_1d(n=120, sep=1.2, spread=0.25, random_state=0)", delta=s1["delta"],
                   sigma=s1["sigma"], mean=s1["mean"], var=s1["var"], solved_lam=s1["lam"], solved_Lam=s1["Lam"],
                   w1_naive_mm=s1["w1_naive_mm"], stability_bound=s1["stability_bound"], rows=rows1,
                   w1_rate_all_P={f"{h:.4f}": v["w1_rate"] for h, v in rates_all.items()},
                   w1_rate_P_10_30_100={f"{h:.4f}": v["w1_rate"] for h, v in rates_small.items()},
                   Lam_err_rate_all_P={f"{h:.4f}": v["Lam_rate"] for h, v in rates_all.items()},
                   Lam_extrapolation=dict(Lam_inf=float(coef[0]), a_over_P=float(coef[1]), b_h=float(coef[2]),
                                          solved_Lam=s1["Lam"]),
                   acceptance=acc),
        two_d=dict(data="three_clusters_2d(n=90, radius=1.2, spread=0.2, random_state=0)", delta=s2["delta"],
                   sigma=s2["sigma"], step_size=s2["step_size"], solved_lam=s2["lam"], solved_Lam=s2["Lam"],
                   sw1_naive_mm=s2["sw1_naive_mm"], rows=rows2,
                   sw1_rate_all_P=fit_rate(P2, [r["sw1_mm"] for r in rows2])[0],
                   Lam_err_rate_all_P=fit_rate(P2, [r["Lam_err"] for r in rows2])[0]),
        timing=timing)


def figure(s1, s2, path):
    fig, ax = plt.subplots(2, 2, figsize=(10, 7.5))
    z = s1["grid"]
    hs = sorted({r["h"] for r in s1["rows"]}, reverse=True)
    a = ax[0, 0]
    a.plot(z, s1["naive_density"], "C0", label=r"$\pi_{naive}$")
    a.plot(z, s1["density"], "C1", label=r"$\pi_{MM}$ (grid solve)")
    for P, c in ((10, "C2"), (1000, "C3")):
        r = [r for r in s1["rows"] if r["h"] == hs[-1] and r["P"] == P][0]
        edges = z[::20]
        F = r["cdf"][::20]
        a.stairs(np.diff(F) / np.diff(edges), edges, color=c, label=f"particles, P={P}")
    a.set_xlim(-3.2, 3.2); a.set_title("1D: one-particle marginal (smaller h)"); a.legend(fontsize=8)
    a = ax[0, 1]
    for h, m in zip(hs, ("o", "s")):
        rr = [r for r in s1["rows"] if r["h"] == h]
        P = [r["P"] for r in rr]
        a.loglog(P, [r["w1_mm"] for r in rr], m + "-", label=rf"$W_1$ to $\pi_{{MM}}$, h={h:.4f}")
        a.loglog(P, [r["w1_naive"] for r in rr], m + "--", label=rf"$W_1$ to $\pi_{{naive}}$, h={h:.4f}")
        c2 = np.array([r["cramer2_mm"] for r in rr])
        ok = c2 > 0  # the debiased estimate can be negative when the true value is below the noise
        a.loglog(np.array(P)[ok], np.sqrt(c2[ok]), m + ":", alpha=0.6,
                 label=f"debiased Cramér to $\\pi_{{MM}}$, h={h:.4f}")
    a.axhline(0.25 * s1["w1_naive_mm"], color="k", lw=0.8, ls=":", label=r"$W_1(\pi_{naive},\pi_{MM})\,/\,4$")
    Pg = np.array([10, 1000])
    a.loglog(Pg, 0.2 / Pg, color="0.6", lw=0.8, label="slope -1")
    a.set_ylim(1e-4, 60)
    a.set_xlabel("P"); a.set_title("1D distances"); a.legend(fontsize=6.5, ncol=2, loc="upper right")
    a = ax[1, 0]
    for h, m in zip(hs, ("o", "s")):
        rr = [r for r in s1["rows"] if r["h"] == h]
        a.errorbar([r["P"] for r in rr], [r["Lam"] for r in rr], [r["Lam_se"] for r in rr], marker=m, capsize=2,
                   label=rf"time-averaged $\Lambda_t$, h={h:.4f}")
    a.axhline(s1["Lam"], color="k", lw=0.8, label=r"solved $\Lambda$ (grid Newton)")
    A = np.c_[np.ones(len(s1["rows"])), [1.0 / r["P"] for r in s1["rows"]], [r["h"] for r in s1["rows"]]]
    lam_inf = np.linalg.lstsq(A, [r["Lam"] for r in s1["rows"]], rcond=None)[0][0]
    a.axhline(lam_inf, color="C3", lw=0.8, ls="--", label=r"fit $\Lambda_\infty + a/P + b h$: $\Lambda_\infty$")
    a.set_xscale("log"); a.set_xlabel("P"); a.set_title(r"1D: constraint multiplier $\Lambda$"); a.legend(fontsize=8)
    a = ax[1, 1]
    rr = s2["rows"]
    P = [r["P"] for r in rr]
    a.loglog(P, [r["sw1_mm"] for r in rr], "o-", label=r"$SW_1$(marginal, $\pi_{MM}$)")
    a.loglog(P, [r["sw1_naive"] for r in rr], "s--", label=r"$SW_1$(marginal, $\pi_{naive}$)")
    a.loglog(P, [r["Lam_err"] for r in rr], "^-", label=r"$\|\bar\Lambda_P-\Lambda\|_F$")
    a.axhline(s2["sw1_naive_mm"], color="k", lw=0.8, ls=":", label=r"$SW_1(\pi_{naive},\pi_{MM})$")
    a.set_xlabel("P"); a.set_title(f"2D three clusters, h={s2['step_size']:.4f}"); a.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def write_markdown(res, path):
    "The README table: distances of the long-run one-particle marginal to pi_MM and pi_naive against P."
    o, t = res["one_d"], res["two_d"]
    lines = [f"1D: {o['data']}, delta = {o['delta']}, sigma = {o['sigma']}; solved lambda = {o['solved_lam']:.4f}, "
             f"Lambda = {o['solved_Lam']:.4f}; W1(pi_naive, pi_MM) = {o['w1_naive_mm']:.4f}.", "",
             "| h | P | W1 to pi_MM | W1 to pi_naive | time-averaged Lambda_t |", "|---|---|---|---|---|"]
    for r in o["rows"]:
        lines.append(f"| {r['h']:.4f} | {r['P']} | {r['w1_mm']:.4f} | {r['w1_naive']:.4f} | {r['Lam']:.4f} +- {r['Lam_se']:.4f} |")
    rates = ", ".join(f"h = {h}: {v:.2f} (P = 10-100), {o['w1_rate_all_P'][h]:.2f} (all P)"
                      for h, v in o["w1_rate_P_10_30_100"].items())
    acc = ", ".join(f"{h}: {a['w1_P300_over_w1_naive_mm']:.4f}" for h, a in o["acceptance"].items())
    ex = o["Lam_extrapolation"]
    lines += ["", f"Fitted log-log rates of W1 to pi_MM in P: {rates}. W1 at P = 300 over W1(pi_naive, pi_MM): {acc} "
              f"(the issue asks for at most 0.25). Below P of about 100 the distance falls like 1/P; beyond, it sits on a "
              f"floor set by the step size and Monte Carlo error, so it is not monotone. Fit Lambda(P, h) = Lambda_inf + a/P + b h: "
              f"Lambda_inf = {ex['Lam_inf']:.5f} against the solved {ex['solved_Lam']:.5f}.", "",
              f"2D: {t['data']}, delta = {t['delta']}, sigma = {t['sigma']}, h = {t['step_size']:.4f}; "
              f"SW1(pi_naive, pi_MM) = {t['sw1_naive_mm']:.4f}.", "",
              "| P | SW1 to pi_MM | SW1 to pi_naive | multiplier error (Frobenius norm of Lambda_P - Lambda) |", "|---|---|---|---|"]
    for r in t["rows"]:
        lines.append(f"| {r['P']} | {r['sw1_mm']:.4f} | {r['sw1_naive']:.4f} | {r['Lam_err']:.4f} |")
    tm = res.get("timing", {})
    lines += ["", f"Run time: {sum(v for v in tm.values() if isinstance(v, (int, float))):.0f} s "
              "(`python paper_figs/fig_meanfield.py`)."]
    Path(path).write_text("\n".join(lines) + "\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fast", action="store_true", help="short runs (< ~40 s) for make test")
    p.add_argument("--out", default=None, help="output directory (default paper_figs/, or paper_figs/_fast/ with --fast)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    here = Path(__file__).resolve().parent
    out = Path(args.out) if args.out else (here / "_fast" if args.fast else here)
    out.mkdir(parents=True, exist_ok=True)
    s1, s2, timing = run(args.fast, verbose=not args.quiet)
    res = summarise(s1, s2, timing, args.fast)
    (out / "meanfield.json").write_text(json.dumps(res, indent=1))
    figure(s1, s2, out / "fig_meanfield.png")
    write_markdown(res, out / "meanfield.md")
    o = res["one_d"]
    print(f"1D: W1(naive, MM) = {o['w1_naive_mm']:.4f}; solved lam = {o['solved_lam']:.4f}, Lam = {o['solved_Lam']:.4f}")
    for r in o["rows"]:
        print(f"  h={r['h']:.4f} P={r['P']:5d}: W1->MM {r['w1_mm']:.4f}  W1->naive {r['w1_naive']:.4f}  "
              f"Cramer^2 {r['cramer2_mm']:+.1e} +- {r['cramer2_se']:.0e}  lam {r['lam']:+.4f}  "
              f"Lam {r['Lam']:+.4f} +- {r['Lam_se']:.4f}")
    print("  W1 rates (all P):", o["w1_rate_all_P"], " (P<=100):", o["w1_rate_P_10_30_100"])
    print("  |Lam_P - Lam| rates:", o["Lam_err_rate_all_P"], " extrapolation:", o["Lam_extrapolation"])
    print("  acceptance:", o["acceptance"])
    t = res["two_d"]
    print(f"2D: SW1(naive, MM) = {t['sw1_naive_mm']:.4f}, h = {t['step_size']:.4f}")
    for r in t["rows"]:
        print(f"  P={r['P']:5d}: SW1->MM {r['sw1_mm']:.4f}  SW1->naive {r['sw1_naive']:.4f}  "
              f"|lam err| {r['lam_err']:.4f}  |Lam err|_F {r['Lam_err']:.4f}")
    print(f"  rates: SW1 {t['sw1_rate_all_P']:.2f}, Lam err {t['Lam_err_rate_all_P']:.2f}; timing {timing}")
    return res


if __name__ == "__main__":
    main()
