"""Write README.md from nbs/index.ipynb plus the results files the committed scripts produce.

    python tools/make_readme.py          # rewrite README.md
    python tools/make_readme.py --check  # exit 1 if README.md is out of date

The landing page of the documentation site and the README share their text (index.ipynb); the
results section includes the tables written by paper_figs/ and benchmarks/ scripts verbatim, so
every number in the README comes from a committed script's output file.
"""
import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (heading, introduction, file with a markdown table or text, optional image), in order
RESULTS = [
    ("Moment matching and sample quality in 2D",
     "MM-SOLD against naive SOLD (the same preconditioned Langevin dynamics without the moment "
     "constraint) on 2,000 training points, 2,000 samples. Bandwidths were chosen on validation held-out "
     "sets; SW2 is averaged over 5 separate test held-out sets of 2,000 and compared with the finite-sample "
     "reference SW2(train, held-out). NN-distance ratio: median distance from a sample to its nearest "
     "training point over the training points' own median nearest-neighbour distance (about 1 for fresh "
     "data, 0 for copies). Produced by `paper_figs/acceptance_2d.py`.",
     "paper_figs/acceptance_2d.md", "paper_figs/acceptance_2d.png"),
    ("The mean-field limit",
     "The long-run one-particle marginal of the P-particle MM-SOLD chain against the tilted target pi_MM "
     "(solved by Newton on a quadrature grid, `mmsold.tilt`) and against the naive target pi_naive, with an "
     "accurate tabulated score so that no estimator noise enters. Produced by `paper_figs/fig_meanfield.py`; "
     "derivations in notebooks 10 to 12.",
     "paper_figs/meanfield.md", "paper_figs/fig_meanfield.png"),
    ("Baselines on five 2D data sets", None, "paper_figs/results.md", None),
    ("Handwritten digits",
     "scikit-learn's 8x8 digits (the paper's high-resolution set and CelebA-HQ are not available offline), "
     "class 8, in a training-free PCA latent. KID in the hidden-layer features of a small classifier trained "
     "on the training split only, and in pixel space. Produced by `paper_figs/fig3_digits_samples.py`; "
     "more in `paper_figs/README.md`.",
     "paper_figs/fig3_digits_numbers.md", "paper_figs/fig3_digits_grids.png"),
    ("Fashion-MNIST at the paper's CelebA scale",
     "The CelebA-HQ substitute (Figs. 4, 7, 8): 27,000 training and 3,000 test images, a small convolutional "
     "autoencoder latent (AE) and a PCA latent (100 dims each, partially whitened), P = 3,000, T = 100, the paper's "
     "estimator and protocol. KID and FID in the features of a CNN classifier trained on the training split only. "
     "The latent DDPM is trained until its validation loss flattens (50,000 iterations, cosine learning rate, EMA); "
     "in the AE latent its KID is below MM-SOLD's while its FID, precision and density are far worse, so read KID "
     "with the other columns. "
     "Each Langevin sampler's step is chosen on a validation split (the step grid is the second table); the "
     "chosen steps and the data start are run with 3 seeds. Over 20 draws of the data start the test KID varies "
     "with sd 2.3e-3 (`paper_figs/fig4_fashion_draws.md`), so gaps below about 3e-3 between single runs are noise. "
     "The decoder's floor (test images encoded and decoded) limits every row: with a larger autoencoder whose "
     "floor is half as high, MM-SOLD's KID halves too and stays 0.4e-2 above it (`paper_figs/fashion_ae_floor.md`). "
     "With paired sampler seeds on one step grid (`paper_figs/fashion_paired_seeds.md`), MM-SOLD's KID is "
     "below naive SOLD's at naive SOLD's best stable step in both autoencoder latents (by 1.29e-3 +- 0.51e-3 and "
     "1.22e-3 +- 0.44e-3, 15 and 16 of 20 seeds) and level with it in the PCA latent (+0.36e-3 +- 0.98e-3, ten "
     "seeds); the gain is the moment constraint's correction of the starting cloud, while the 100 steps raise "
     "naive SOLD's KID above its start in 196 of 200 runs. "
     "Produced by `paper_figs/fig4_fashion.py`; the full write-up, with what differs from the paper, is in "
     "`paper_figs/README.md`.",
     "paper_figs/fig4_fashion.md", "paper_figs/fig4_fashion_grid.png"),
    ("Fashion-MNIST, one class at a time",
     "Class-conditional runs (`python paper_figs/fig4_fashion.py --part classes`): for each of the ten classes its "
     "6,000 training images, the same autoencoder with the whitening refitted on the class, P = 1,000, T = 100, "
     "both samplers at 0.8 x the class's own stability bound; KID against the class's 1,000 test images; class "
     "agreement = share of samples the classifier assigns to the class. Two sampler seeds per class (a seed gives "
     "both samplers the same starting cloud); per-class rows in `paper_figs/fig4_fashion_classes.md`.",
     ("paper_figs/fig4_fashion_classes.md", "runs are (class, seed) pairs).", "| class | seed | method |"), None),
    ("Speed",
     "From `python benchmarks/run.py` (all tables, the method and the caveats are in `benchmarks/README.md`), "
     "on 2 shared cores. The exact fast paths reproduce the reference scores to about 1e-15 relative; the "
     "approximate candidate lists leave sample quality unchanged within seed-to-seed noise.",
     ("benchmarks/README.md", "### The two targets", "### What each lever buys"), "benchmarks/scaling.png"),
    ("Speed at the paper's scale (Algorithm 2)",
     "From `python benchmarks/paper_scale.py`: the paper's nearest-plus-remainder estimator at N = 27,000 "
     "(d = 700, P = 3,000 and d = 100, P = 1,000; T = 100, K = L = 50, M = 2), each path against the "
     "straightforward NumPy implementation timed in the same process, single-threaded BLAS, 2 cores, quiet "
     "machine. The issue's targets (75 s and 9 s per run, 0.2x the authors' JAX code) are met on two threads "
     "in every run (61 s and 7.3 s here); on one thread in a faster hour (70 s and 6.2 s) but not in the hour "
     "of this table (93 s and 11 s). Under load, earlier runs and the bounds: `benchmarks/README.md`.",
     ("benchmarks/README.md", "\"reuse\" ran all 100 steps.", "Floors measured in the same runs"), None),
    ("MMSOLD end to end at the paper's scale",
     "The same estimator inside `MMSOLD` with the paper's options (`python benchmarks/paper_scale.py --mmsold`). "
     "At d = 100 it is at the 9 s target; at d = 700 it is not (0.38-0.46x the authors' 370 s): at the paper's "
     "step 15 directions are beyond the explicit stability bound, the particles swing across by about 15 per "
     "step, and only the two-anchor neighbour lists (the one from two steps back holds) keep refreshes down to "
     "17% per call (explained in `benchmarks/README.md`).",
     ("benchmarks/README.md", "mmsold` in the JSON):", "At d = 100 the sampler is at"), None),
]


def render_index(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for cell in nb["cells"]:
        src = "".join(cell["source"]).rstrip()
        if cell["cell_type"] == "markdown":
            out.append(src)
        elif cell["cell_type"] == "code":
            lines = [l for l in src.splitlines() if not l.startswith("#|")]
            if any(l.startswith("#|") and ("export" in l or "default_exp" in l or "hide" in l)
                   for l in src.splitlines()):
                continue
            if lines:
                out.append("```python\n" + "\n".join(lines).strip() + "\n```")
    text = "\n\n".join(out)
    # the notebook's summary line `> ...` stays a block quote; links to notebooks point into nbs/
    return re.sub(r"\]\((\d\d_[\w]+\.ipynb)\)", r"](nbs/\1)", text)


def results_section():
    parts = ["## Results\n\nEvery number below is read from a file that a committed script writes; "
             "rerun them all with `make figures` (and `make bench` for the speed tables). "
             "`paper_figs/README.md` maps each figure of the paper to ours."]
    for heading, intro, table, image in RESULTS:
        start = end = None
        if isinstance(table, tuple):  # (file, first line to keep, line to stop before)
            table, start, end = table
        f = ROOT / table
        if not f.exists():
            continue
        text = f.read_text(encoding="utf-8")
        if start:
            text = text[text.index(start) + len(start):text.index(end)]
        parts.append(f"### {heading}")
        if intro:
            parts.append(intro)
        parts.append(text.strip())
        if image and (ROOT / image).exists():
            parts.append(f"![{heading}]({image})")
    return "\n\n".join(parts)


def build():
    return ("<!-- Generated by tools/make_readme.py from nbs/index.ipynb and the results files; "
            "do not edit by hand. -->\n\n" + render_index(ROOT / "nbs" / "index.ipynb") + "\n\n"
            + results_section() + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    text = build()
    readme = ROOT / "README.md"
    if args.check:
        if not readme.exists() or readme.read_text(encoding="utf-8") != text:
            print("README.md is out of date: run .venv/bin/python tools/make_readme.py")
            return 1
        print("README.md is up to date")
        return 0
    readme.write_text(text, encoding="utf-8")
    print(f"wrote {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
