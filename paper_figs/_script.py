"""The shared start of the figure scripts' `main`: where outputs go, and the skip without the optional PyTorch extra.

The module name starts with an underscore, so `make_all.py` does not run it as a figure script.
"""
from pathlib import Path

HERE = Path(__file__).resolve().parent


def output_dir(fast: bool) -> Path:
    "paper_figs/ for the full settings, paper_figs/_fast/ for --fast (created if missing)."
    out = HERE / "_fast" if fast else HERE
    out.mkdir(exist_ok=True)
    return out


def skip_without_torch() -> bool:
    "True, after printing why, when PyTorch (the `baselines` extra) is missing: the script then exits 0."
    from mmsold.ddpm import HAS_TORCH
    if not HAS_TORCH:
        print("skipped: PyTorch is not installed (pip install mmsold[baselines])")
    return not HAS_TORCH


def git_head() -> str:
    "The commit the outputs were made from (`git rev-parse HEAD`), or 'unknown' outside a checkout."
    import subprocess
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True).stdout.strip() or "unknown"
    except OSError:
        return "unknown"
