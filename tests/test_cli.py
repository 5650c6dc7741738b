"""Tests for the `mmsold` command line (mmsold.cli), run in-process through `main(argv)`."""
import os
import re
import stat

import numpy as np
import pytest

import mmsold.cli as cli
from mmsold.cli import SAMPLER_OPTIONS, main
from mmsold.datasets import TOY_DATASETS, load_array

TINY = ["--n", "200", "--n-steps", "20", "--no-progress"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def data_csv(tmp_path):
    "A user's CSV file (with a header row) of 300 points from a fixed 3D distribution."
    rng = np.random.default_rng(123)
    X = rng.standard_normal((300, 3)) @ np.array([[1.0, 0.3, 0.0], [0.0, 0.5, 0.2], [0.0, 0.0, 2.0]]) + [1, -2, 0.5]
    p = tmp_path / "my data.csv"
    np.savetxt(p, X, delimiter=",", header="a,b,c", comments="", fmt="%.17g")
    return p, X


@pytest.fixture
def no_work(monkeypatch):
    "Replace the sampler by one that fails the test if it is ever constructed."
    def boom(*a, **k):
        raise AssertionError("the sampler ran although the arguments were invalid")
    monkeypatch.setattr(cli, "MMSOLD", boom)


# ---------------------------------------------------------------- help and listing
def _help_entries(text):
    "Map each option flag to its help entry (argparse prints '  --flag METAVAR  help', wrapped)."
    entries, current = {}, None
    for line in text.splitlines():
        m = re.match(r"^  (-[-\w]+)(?:, (--[-\w]+))?", line)
        if m:
            current = m.group(2) or m.group(1)
            entries[current] = line
        elif current and line.startswith("    "):
            entries[current] += " " + line.strip()
        else:
            current = None
    return {k: " ".join(v.split()) for k, v in entries.items()}


def test_help_documents_every_option(capsys):
    code, out, _ = run(capsys, "sample", "--help")
    assert code == 0
    entries = _help_entries(out)
    flags = ["--dataset", "--data", "--n-train", "--digit", "--skiprows", "--n", "--out", "--plot",
             "--no-moment-match", "--seed", "--no-progress"] + [f for f, *_ in SAMPLER_OPTIONS]
    for flag in flags:
        assert flag in entries, flag
        assert len(entries[flag]) > len(flag) + 20, entries[flag]     # a real description
    # every option except the two source choices states its default
    for flag in set(flags) - {"--dataset", "--data"}:
        assert "(default:" in entries[flag], entries[flag]
    # the defaults shown are the library's, read here from the constructor
    import inspect

    from mmsold.sampler import MMSOLD
    sig = inspect.signature(MMSOLD.__init__).parameters
    for flag, param, *_ in SAMPLER_OPTIONS:
        d = sig[param].default
        shown = d if d is not None else ("auto" if param == "step_size" else "all")
        assert f"(default: {shown})" in entries[flag], (flag, entries[flag])
    for sub in ("sample", "datasets", "demo"):
        assert sub in run(capsys, "--help")[1]
    code, out, _ = run(capsys, "demo", "--help")
    entries = _help_entries(out)
    assert code == 0
    for flag in ["--out-dir", "--n-train", "--n", "--n-heldout-sets", "--seed"] + [f for f, *_ in SAMPLER_OPTIONS]:
        assert "(default:" in entries[flag], flag
    # the demo's defaults are DEMO_SETTINGS
    assert f"(default: {cli.DEMO_SETTINGS['sampler']['delta']})" in entries["--delta"]


def test_version(capsys):
    from mmsold import __version__
    code, out, _ = run(capsys, "--version")
    assert code == 0 and __version__ in out


def test_datasets_lists_all(capsys):
    code, out, _ = run(capsys, "datasets")
    assert code == 0
    for name in list(TOY_DATASETS) + ["digits"]:
        assert re.search(rf"^{name}\s", out, re.M), name


# ---------------------------------------------------------------- bad arguments: exit 2, before any work
BAD_VALUES = [
    (["--delta", "0"], "--delta", "> 0"),
    (["--delta", "-1"], "--delta", "> 0"),
    (["--delta", "abc"], "--delta", "must be a number"),
    (["--delta", "nan"], "--delta", "finite"),
    (["--sigma", "-0.1"], "--sigma", ">= 0"),
    (["--step-size", "0"], "--step-size", "> 0"),
    (["--step-size=-1e-3"], "--step-size", "> 0"),
    (["--n-steps", "0"], "--n-steps", ">= 1"),
    (["--n-steps", "1.5"], "--n-steps", "integer"),
    (["--n-neighbors", "0"], "--n-neighbors", ">= 1"),
    (["--n-noise", "0"], "--n-noise", ">= 1"),
    (["--n-quad", "x"], "--n-quad", "integer"),
    (["--integrator", "rk4"], "--integrator", "invalid choice"),
    (["--smoothing", "exact"], "--smoothing", "invalid choice"),
    (["--init", "zeros"], "--init", "invalid choice"),
    (["--seed", "-1"], "--seed", ">= 0"),
    (["--n", "0"], "--n", ">= 1"),
    (["--n-train", "-5"], "--n-train", ">= 1"),
]


@pytest.mark.parametrize("extra,flag,words", BAD_VALUES)
def test_bad_values_exit_2(capsys, no_work, extra, flag, words):
    code, out, err = run(capsys, "sample", "--dataset", "checkerboard", *extra)
    assert code == 2 and out == ""
    assert flag in err and words in err, err


def test_bad_sources_exit_2(capsys, no_work, tmp_path, data_csv):
    path, _ = data_csv
    cases = [
        (["sample"], ["one of the arguments --dataset --data is required"]),
        (["sample", "--dataset", "moons", "--data", path], ["not allowed with"]),
        (["sample", "--dataset", "circles"], ["unknown data set 'circles'", "checkerboard", "digits"]),
        (["sample", "--data", path, "--n-train", "10"], ["--n-train", "--data"]),
        (["sample", "--dataset", "moons", "--digit", "3"], ["--digit", "digits only"]),
        (["sample", "--dataset", "moons", "--skiprows", "1"], ["--skiprows", "--data"]),
        (["sample", "--dataset", "digits", "--digit", "12"], ["--digit", "invalid choice"]),
        ([], ["required"]),
        (["resample"], ["invalid choice"]),
    ]
    for argv, words in cases:
        code, _, err = run(capsys, *argv)
        assert code == 2, argv
        assert all(w in err for w in words), (argv, err)


def test_bad_data_files_exit_2(capsys, no_work, tmp_path):
    (tmp_path / "words.csv").write_text("x,y\n1,2\n3,four\n")
    (tmp_path / "nan.csv").write_text("1,2\n3,nan\n5,6\n")
    (tmp_path / "inf.txt").write_text("1 2\n3 4\n-inf 6\n")
    (tmp_path / "one.csv").write_text("1,2,3\n")
    np.save(tmp_path / "cube.npy", np.zeros((4, 2, 2)))
    np.save(tmp_path / "obj.npy", np.array([[None, 1]], dtype=object), allow_pickle=True)
    cases = [
        ("missing.csv", ["--data", "not found", "missing.csv"]),
        ("words.csv", ["--data", "line 3, column 2", "'four' is not a number"]),
        ("nan.csv", ["--data", "non-finite", "row 1, column 1"]),
        ("inf.txt", ["--data", "non-finite", "row 2, column 0"]),
        ("one.csv", ["--data", "1 sample", "at least 2"]),
        ("cube.npy", ["--data", "2D", "(4, 2, 2)"]),
        ("obj.npy", ["--data", "Python objects"]),
    ]
    for name, words in cases:
        code, _, err = run(capsys, "sample", "--data", tmp_path / name)
        assert code == 2, name
        assert all(w in err for w in words), (name, err)


def test_bad_outputs_exit_2(capsys, no_work, tmp_path):
    (tmp_path / "adir.npy").mkdir()
    cases = [
        (["--out", tmp_path / "s.json"], ["--out", "suffix", ".npy, .csv, .txt"]),
        (["--out", tmp_path / "nodir" / "s.npy"], ["--out", "does not exist"]),
        (["--out", tmp_path / "adir.npy"], ["--out", "is a directory"]),
        (["--plot", tmp_path / "p.gif"], ["--plot", "suffix", ".png"]),
    ]
    for extra, words in cases:
        code, _, err = run(capsys, "sample", "--dataset", "checkerboard", *extra)
        assert code == 2, extra
        assert all(w in err for w in words), (extra, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir.npy"]       # nothing written


def test_too_few_particles_exit_2(capsys, data_csv):
    # P must be >= rank + 1 = 4 for 3D full-rank data; the sampler's ValueError becomes exit 2
    path, _ = data_csv
    code, out, err = run(capsys, "sample", "--data", path, "--n", "3", "--n-steps", "2", "--no-progress")
    assert code == 2 and out == "" and "n_samples" in err and "rank" in err


# ---------------------------------------------------------------- happy path
def test_sample_user_csv_to_npy_and_csv(capsys, tmp_path, data_csv):
    path, X = data_csv
    out_npy, out_csv, fig = tmp_path / "s.npy", tmp_path / "s.csv", tmp_path / "s.png"
    code, line, _ = run(capsys, "sample", "--data", path, *TINY, "--seed", 1, "--out", out_npy, "--plot", fig)
    assert code == 0 and line.count("\n") == 1
    assert "moment error" in line and re.search(r"\d s\b", line)
    assert "SW2" not in line  # no held-out set for user data
    Z = np.load(out_npy)
    assert Z.shape == (200, 3) and np.isfinite(Z).all()
    # moments equal the file's (independent numpy computation, population covariance)
    mu, C = X.mean(0), np.cov(X.T, bias=True)
    assert np.allclose(Z.mean(0), mu, rtol=0, atol=1e-10 * np.abs(mu).max())
    assert np.linalg.norm(np.cov(Z.T, bias=True) - C) <= 1e-10 * np.linalg.norm(C)
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, _ = run(capsys, "sample", "--data", path, *TINY, "--seed", 1, "--out", out_csv)
    assert code == 0 and np.array_equal(load_array(out_csv), Z)       # .csv holds the same numbers
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left over


def test_same_seed_same_file(capsys, tmp_path):
    files = []
    for i, seed in enumerate([7, 7, 8]):
        f = tmp_path / f"s{i}.npy"
        code, line, _ = run(capsys, "sample", "--dataset", "two_spirals", "--n-train", 300, *TINY,
                            "--seed", seed, "--out", f)
        assert code == 0 and "SW2 to held-out" in line and "reference" in line
        files.append(f.read_bytes())
    assert files[0] == files[1] and files[0] != files[2]


def test_output_permissions_follow_umask(capsys, tmp_path):
    old = os.umask(0o027)
    try:
        code, _, _ = run(capsys, "sample", "--dataset", "moons", "--n-train", 200, *TINY, "--seed", 0,
                         "--out", tmp_path / "s.txt")
    finally:
        os.umask(old)
    assert code == 0
    assert stat.S_IMODE((tmp_path / "s.txt").stat().st_mode) == 0o640
    assert load_array(tmp_path / "s.txt").shape == (200, 2)


def test_failed_write_leaves_no_partial_file(capsys, tmp_path, monkeypatch):
    target = tmp_path / "s.npy"
    target.write_bytes(b"old contents")

    def half_write(fh, arr, **kw):
        fh.write(b"\x93NUMPY half")
        raise OSError("disk full")
    monkeypatch.setattr(cli.np, "save", half_write)
    with pytest.raises(OSError, match="disk full"):
        main(["sample", "--dataset", "checkerboard", "--n-train", "200", *TINY, "--seed", "0", "--out", str(target)])
    assert target.read_bytes() == b"old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["s.npy"]


def test_digits_rank_deficient(capsys, tmp_path):
    from mmsold.datasets import load_digits_class
    X = load_digits_class(8)
    const = X.std(0) == 0
    f = tmp_path / "d.npy"
    code, line, _ = run(capsys, "sample", "--dataset", "digits", "--digit", 8, "--n", 60, "--n-steps", 5,
                        "--no-progress", "--seed", 0, "--out", f)
    assert code == 0 and "digits-8" in line
    Z = np.load(f)
    assert Z.shape == (60, 64)
    assert np.allclose(Z[:, const], X[0, const], atol=1e-9)   # never-varying pixels stay fixed


def test_naive_flag_changes_output(capsys, tmp_path):
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    base = ["sample", "--dataset", "checkerboard", "--n-train", 200, *TINY, "--seed", 0]
    assert run(capsys, *base, "--out", a)[0] == 0
    assert run(capsys, *base, "--no-moment-match", "--out", b)[0] == 0
    assert not np.array_equal(np.load(a), np.load(b))


def test_demo_tiny(capsys, tmp_path):
    d = tmp_path / "new" / "demo"
    code, line, _ = run(capsys, "demo", "--out-dir", d, "--n-train", 200, "--n", 200, "--n-steps", 10,
                        "--n-heldout-sets", 2, "--no-progress")
    assert code == 0, line
    assert line.count("\n") == 1
    for words in ("MM-SOLD moment error", "reference SW2(train, held-out)", "naive SOLD SW2", " s -> "):
        assert words in line, words
    assert (d / "demo.png").read_bytes()[:4] == b"\x89PNG"


def test_demo_bad_out_dir(capsys, tmp_path, no_work):
    f = tmp_path / "file"
    f.write_text("x")
    code, _, err = run(capsys, "demo", "--out-dir", f)
    assert code == 2 and "not a directory" in err


def test_options_reach_the_sampler(capsys, monkeypatch):
    "Every sampler option is passed to MMSOLD under its parameter name; the progress bar is on by default."
    seen = []
    real = cli.MMSOLD

    def recording(**kw):
        seen.append(kw)
        return real(**kw)
    monkeypatch.setattr(cli, "MMSOLD", recording)
    code, _, _ = run(capsys, "sample", "--dataset", "moons", "--n-train", 100, "--n", 50, "--n-steps", 3,
                     "--delta", 0.3, "--sigma", 0.05, "--step-size", 1e-4, "--n-neighbors", "all",
                     "--n-noise", 2, "--smoothing", "quadrature", "--n-quad", 4, "--integrator", "em",
                     "--init", "data", "--no-moment-match", "--seed", 0)
    assert code == 0
    kw = seen[0]
    expected = dict(delta=0.3, sigma=0.05, step_size=1e-4, n_neighbors=None, n_noise=2, smoothing="quadrature",
                    n_quad=4, integrator="em", init="data", moment_match=False, n_steps=3, progress=True)
    assert {k: kw[k] for k in expected} == expected
    assert isinstance(kw["random_state"], np.random.Generator)
    run(capsys, "sample", "--dataset", "moons", "--n-train", 100, "--n", 50, "--n-steps", 3, "--no-progress")
    assert seen[1]["progress"] is False and seen[1]["moment_match"] is True
