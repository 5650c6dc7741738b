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
    flags = ["--dataset", "--data", "--n-train", "--digit", "--skiprows", "--n", "--n-ensembles", "--n-jobs",
             "--out", "--plot", "--force", "--no-moment-match", "--seed", "--no-progress"] + \
        [f for f, *_ in SAMPLER_OPTIONS]
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
    (["--score-estimator", "exactly"], "--score-estimator", "invalid choice"),
    (["--smoothing", "mc"], "--smoothing", "unrecognized arguments"),      # the old option is gone
    (["--target-covariance", "identity"], "--target-covariance", "invalid choice"),
    (["--n-remainder", "-1"], "--n-remainder", ">= 0"),
    (["--n-ensembles", "0"], "--n-ensembles", ">= 1"),
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
    code, out, err = run(capsys, "sample", "--dataset", "checkerboard", "--n-train", "200", *TINY, "--seed", "0",
                         "--out", target, "--force")
    assert code == 2 and out == "" and err.strip() == "mmsold sample: error: disk full"
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
                     "--n-noise", 2, "--score-estimator", "quadrature", "--n-quad", 4, "--integrator", "em",
                     "--init", "data", "--n-remainder", 7, "--target-covariance", "mixture", "--no-moment-match",
                     "--seed", 0)
    assert code == 0
    kw = seen[0]
    expected = dict(delta=0.3, sigma=0.05, step_size=1e-4, n_neighbors=None, n_noise=2, score_estimator="quadrature",
                    n_quad=4, integrator="em", init="data", n_remainder=7, target_covariance="mixture",
                    moment_match=False, n_steps=3, progress=True)
    assert {k: kw[k] for k in expected} == expected
    assert isinstance(kw["random_state"], np.random.Generator)
    run(capsys, "sample", "--dataset", "moons", "--n-train", 100, "--n", 50, "--n-steps", 3, "--no-progress")
    assert seen[1]["progress"] is False and seen[1]["moment_match"] is True


# ---------------------------------------------------------------- issue 12: defects 3, 6 and 10 of the probe
FAST = ["--n", "50", "--n-steps", "3", "--no-progress", "--seed", "0"]


@pytest.fixture
def train_npy(tmp_path):
    X = np.random.default_rng(5).standard_normal((120, 2)) * [1.0, 2.0] + [3.0, -1.0]
    p = tmp_path / "train.npy"
    np.save(p, X)
    return p, X


def _one_error_line(err):
    "The error line of a failed run: the last line; warnings before it are one line each."
    lines = err.strip().splitlines()
    assert all(ln.startswith("mmsold sample: warning: ") for ln in lines[:-1]), err
    assert lines[-1].startswith("mmsold sample: error: "), err
    assert "Traceback" not in err and "usage: mmsold [-h]" not in err
    return lines[-1]


def _huge_header(path, shape=(10**12, 2)):
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False, "shape": shape})
        fh.write(b"\0" * 160)


@pytest.mark.parametrize("case", ["diverge", "column_1e300", "delta_1e-170", "huge_header", "truncated", "tiny_scale"])
def test_user_caused_failures_are_one_line_exit_2_and_write_nothing(capsys, tmp_path, train_npy, case):
    path, X = train_npy
    extra, words = {
        "diverge": (["--step-size", "100", "--no-moment-match", "--n-steps", "200"], ["non-finite", "step_size"]),
        "column_1e300": ([], ["overflow", "Rescale"]),
        "delta_1e-170": (["--delta", "1e-170"], ["delta", "too small"]),
        "huge_header": ([], ["claims shape (1000000000000, 2)", "truncated"]),
        "truncated": ([], ["claims shape (120, 2)"]),
        "tiny_scale": ([], ["underflows", "Rescale"]),
    }[case]
    if case == "column_1e300":
        np.save(path, np.c_[X[:, 0], np.full(len(X), 1e300)])
    elif case == "huge_header":
        _huge_header(path)
    elif case == "truncated":
        path.write_bytes(path.read_bytes()[:-200])
    elif case == "tiny_scale":
        np.save(path, X * 1e-300)
    before = sorted(p.name for p in tmp_path.iterdir())
    out_file, fig = tmp_path / "s.npy", tmp_path / "s.png"
    code, out, err = run(capsys, "sample", "--data", path, *FAST, *extra, "--out", out_file, "--plot", fig)
    line = _one_error_line(err)
    assert code == 2 and out == ""
    assert all(w in line for w in words), line
    assert sorted(p.name for p in tmp_path.iterdir()) == before          # no output, no temp file


@pytest.mark.parametrize("exc, words", [(MemoryError(), "out of memory"), (ZeroDivisionError("float division"),
                                        "ZeroDivisionError"), (OSError(28, "No space left on device"), "No space"),
                                        (FloatingPointError("overflow in exp"), "overflow in exp")])
def test_library_errors_become_one_line(capsys, monkeypatch, train_npy, tmp_path, exc, words):
    path, _ = train_npy

    def fail(self, *a, **k):
        raise exc
    monkeypatch.setattr(cli.MMSOLD, "sample", fail)
    code, out, err = run(capsys, "sample", "--data", path, *FAST, "--out", tmp_path / "s.npy")
    assert code == 2 and out == "" and words in _one_error_line(err)
    assert not (tmp_path / "s.npy").exists()


def test_genuine_bugs_keep_their_traceback(monkeypatch, train_npy):
    path, _ = train_npy

    def bug(self, *a, **k):
        raise KeyError("a programming error")
    monkeypatch.setattr(cli.MMSOLD, "sample", bug)
    with pytest.raises(KeyError):
        main(["sample", "--data", str(path), *FAST])


def test_out_equal_to_data_is_refused_even_with_force(capsys, tmp_path, train_npy):
    path, X = train_npy
    (tmp_path / "link.npy").symlink_to(path)
    os.link(path, tmp_path / "hard.npy")
    (tmp_path / "sub").mkdir()
    for target in (path, tmp_path / "link.npy", tmp_path / "hard.npy", tmp_path / "sub" / ".." / "train.npy"):
        code, out, err = run(capsys, "sample", "--data", path, *FAST, "--out", target, "--force")
        assert code == 2 and out == "" and "is the --data file" in err, (target, err)
    assert np.array_equal(np.load(path), X)                              # the training data are intact


def test_existing_outputs_need_force(capsys, tmp_path, train_npy):
    path, _ = train_npy
    out_file, fig = tmp_path / "s.csv", tmp_path / "s.png"
    out_file.write_text("keep me\n")
    fig.write_bytes(b"old figure")
    for extra in (["--out", out_file], ["--plot", fig]):
        code, out, err = run(capsys, "sample", "--data", path, *FAST, *extra)
        assert code == 2 and out == "" and "already exists" in err and "--force" in err
    assert out_file.read_text() == "keep me\n" and fig.read_bytes() == b"old figure"
    code, _, _ = run(capsys, "sample", "--data", path, *FAST, "--out", out_file, "--plot", fig, "--force")
    assert code == 0 and load_array(out_file).shape == (50, 2) and fig.read_bytes()[:4] == b"\x89PNG"


def test_outputs_are_all_or_nothing(capsys, monkeypatch, tmp_path, train_npy):
    path, _ = train_npy

    def broken(p, clouds):
        def write(fh):
            fh.write(b"half a figure")
            raise OSError("renderer crashed")
        return write
    monkeypatch.setattr(cli, "figure_writer", broken)
    code, _, err = run(capsys, "sample", "--data", path, *FAST, "--out", tmp_path / "s.npy", "--plot", tmp_path / "s.png")
    assert code == 2 and "renderer crashed" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.npy"]  # the .npy was not written either


def test_summary_labels_and_subcommand_prog(capsys, tmp_path, train_npy):
    path, X = train_npy
    code, line, _ = run(capsys, "sample", "--data", path, *FAST)
    assert code == 0 and "(rel)" not in line and "moment error in units of each coordinate's std" in line
    m = re.search(r"mean ([\d.e+-]+) cov ([\d.e+-]+)", line)
    assert float(m.group(1)) < 1e-12 and float(m.group(2)) < 1e-12
    # load and fit errors name 'mmsold sample', never the top-level usage
    (tmp_path / "bad.csv").write_text("1,2\n3,x\n")
    for argv in (["--data", tmp_path / "bad.csv"], ["--data", path, "--n", "2"]):
        code, _, err = run(capsys, "sample", *argv, "--n-steps", "2", "--no-progress")
        assert code == 2 and _one_error_line(err)


def test_quoted_csv_numbers_are_accepted(capsys, tmp_path):
    X = np.random.default_rng(9).standard_normal((40, 2))
    p = tmp_path / "quoted.csv"
    p.write_text('"x","y"\n' + "".join(f'"{float(a)!r}","{float(b)!r}"\n' for a, b in X))
    out_file = tmp_path / "s.npy"
    code, line, err = run(capsys, "sample", "--data", p, *FAST, "--out", out_file)
    assert code == 0, err
    Z = np.load(out_file)
    np.testing.assert_allclose(Z.mean(0), X.mean(0), atol=1e-12)
    (tmp_path / "badq.csv").write_text('"1","2"\n"3","four"\n')
    code, _, err = run(capsys, "sample", "--data", tmp_path / "badq.csv", *FAST)
    assert code == 2 and "line 2, column 2" in err and "'four' is not a number" in err


def test_choices_come_from_the_public_names(capsys):
    from mmsold.sampler import INITS, INTEGRATORS, TARGET_COVARIANCES
    from mmsold.score import SCORE_ESTIMATORS
    parser = cli.build_parser()
    sub = parser._subparsers._group_actions[0].choices["sample"]      # test-only peek at argparse's tree
    choices = {a.dest: tuple(a.choices) for a in sub._actions if a.choices is not None}
    assert choices["score_estimator"] == ("auto", *SCORE_ESTIMATORS)
    assert choices["integrator"] == tuple(INTEGRATORS) and choices["init"] == tuple(INITS)
    assert choices["target_covariance"] == tuple(TARGET_COVARIANCES)
    import inspect
    assert not re.search(r"sampler\._|_SMOOTHINGS|_INTEGRATORS|_INITS", inspect.getsource(cli))


def test_n_ensembles(capsys, tmp_path, train_npy, monkeypatch):
    pytest.importorskip("mmsold.ensembles")
    path, X = train_npy
    files = [tmp_path / f"e{i}.npy" for i in range(2)]
    for f in files:
        code, line, err = run(capsys, "sample", "--data", path, *FAST, "--n-ensembles", 3, "--out", f)
        assert code == 0 and "3 ensembles of 50" in line, err
    Z = np.load(files[0])
    assert Z.shape == (150, 2) and files[0].read_bytes() == files[1].read_bytes()
    mu, C = X.mean(0), np.cov(X.T, bias=True)
    for e in range(3):                                  # every cloud is moment-matched on its own
        B = Z[50 * e:50 * (e + 1)]
        np.testing.assert_allclose(B.mean(0), mu, atol=1e-10 * np.abs(mu).max())
        np.testing.assert_allclose(np.cov(B.T, bias=True), C, atol=1e-10 * np.abs(C).max())
    # without the module: a clear error before any work
    import sys
    monkeypatch.setitem(sys.modules, "mmsold.ensembles", None)
    code, _, err = run(capsys, "sample", "--data", path, *FAST, "--n-ensembles", 2)
    assert code == 2 and "mmsold.ensembles" in err
    code, _, err = run(capsys, "sample", "--data", path, *FAST, "--n-jobs", 2)
    assert code == 2 and "--n-jobs applies to --n-ensembles" in err


def test_interrupt_is_exit_130_and_writes_nothing(capsys, monkeypatch, tmp_path, train_npy):
    path, _ = train_npy

    def interrupted(self, *a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli.MMSOLD, "sample", interrupted)
    code, out, err = run(capsys, "sample", "--data", path, *FAST, "--out", tmp_path / "s.npy")
    assert code == 130 and out == "" and err.strip() == "mmsold sample: interrupted; nothing was written"
    assert not (tmp_path / "s.npy").exists()


def test_scale_warning_is_one_line(capsys, tmp_path):
    p = tmp_path / "scaled.npy"
    np.save(p, np.random.default_rng(0).standard_normal((200, 2)) * [1.0, 1e8])
    code, out, err = run(capsys, "sample", "--data", p, *FAST)
    assert code == 0 and out.count("\n") == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mmsold sample: warning: column(s) 0") and "column 1" in lines[0]
