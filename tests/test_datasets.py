"""Tests for mmsold.datasets: toy generators, digits, validate_data, load_array, split."""
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mmsold import datasets as ds
from mmsold.datasets import (TOY_DATASETS, DataFileNotFoundError, load_array, load_digits_all,
                             load_digits_class, load_toy, split, validate_data)


# ---------------------------------------------------------------- toy sets
@pytest.mark.parametrize("name", list(TOY_DATASETS))
def test_toy_shape_dtype_seed(name):
    f = TOY_DATASETS[name]
    for n in (1, 2, 3, 257):
        X = f(n, random_state=0)
        assert X.shape == (n, 2) and X.dtype == np.float64 and np.isfinite(X).all()
    assert np.array_equal(f(300, random_state=7), f(300, random_state=7))
    assert np.array_equal(f(300, 7), load_toy(name, 300, random_state=7))
    assert not np.allclose(f(300, random_state=7), f(300, random_state=8))
    # stated scale: everything in about [-4.5, 4.5]^2 (noise tails allowed up to 6)
    X = f(5000, random_state=1)
    assert np.abs(X).max() < 6 and np.abs(X.mean(0)).max() < 0.5


@pytest.mark.parametrize("name", list(TOY_DATASETS))
@pytest.mark.parametrize("bad,err", [(0, ValueError), (-1, ValueError), (2.5, TypeError),
                                     ("10", TypeError), (True, TypeError)])
def test_toy_bad_n(name, bad, err):
    with pytest.raises(err, match="n must be (an integer )?>= 1"):
        TOY_DATASETS[name](bad)


@pytest.mark.parametrize("bad,err", [(1.0, TypeError), ("s", TypeError), (-2, ValueError)])
def test_toy_bad_random_state(bad, err):
    with pytest.raises(err, match="random_state"):
        ds.checkerboard(10, random_state=bad)


def test_checkerboard_moments_closed_form():
    # independent computation: each coordinate uniform on [-4, 4] -> var 16/3; E[xy] = mean over the
    # 8 black cells of the product of cell centres (computed here by enumerating the board).
    centres = np.array([-3.0, -1.0, 1.0, 3.0])
    exy = np.mean([centres[i] * centres[j] for i in range(4) for j in range(4) if (i + j) % 2 == 0])
    X = ds.checkerboard(50_000, random_state=0)
    assert np.allclose(np.cov(X.T, bias=True), [[16 / 3, exy], [exy, 16 / 3]], atol=0.15)


def test_eight_gaussians_covariance():
    s, R = 0.2, 2.0
    X = ds.eight_gaussians(50_000, random_state=0, scale=s, radius=R)
    ang = np.arange(8) * np.pi / 4
    means = R * np.stack([np.cos(ang), np.sin(ang)], 1)
    expected = means.T @ means / 8 + s**2 * np.eye(2)
    assert np.allclose(np.cov(X.T, bias=True), expected, atol=0.05)


def test_load_toy_unknown_name_lists_valid():
    with pytest.raises(ValueError) as e:
        load_toy("circles", 10)
    for name in TOY_DATASETS:
        assert name in str(e.value)
    with pytest.raises(TypeError, match="dataset name"):
        load_toy(3, 10)


# ---------------------------------------------------------------- digits
def test_digits_class_matches_sklearn():
    from sklearn.datasets import load_digits
    d = load_digits()
    for digit in (0, 8):
        X = load_digits_class(digit)
        assert np.array_equal(X, d.data[d.target == digit].astype(float))
    X8 = load_digits_class(8)
    assert X8.shape[1] == 64 and (X8.std(0) == 0).sum() >= 1  # rank-deficient
    assert np.allclose(load_digits_class(8, rescale=True) * 16, X8)
    Xa, ya = load_digits_all()
    assert Xa.shape == (1797, 64) and ya.shape == (1797,)


def test_digits_subsample_and_errors():
    a = load_digits_class(2, n=40, random_state=3)
    assert a.shape == (40, 64) and np.array_equal(a, load_digits_class(2, n=40, random_state=3))
    full = load_digits_class(2)
    # every subsampled row is a row of the full class, no repeats
    assert len({r.tobytes() for r in a}) == 40
    assert all(any(np.array_equal(r, f) for f in full) for r in a)
    for bad in (10, -1, 2.0, "8"):
        with pytest.raises(ValueError, match="digit must be"):
            load_digits_class(bad)
    with pytest.raises(ValueError, match="exceeds"):
        load_digits_class(2, n=10_000)


# ---------------------------------------------------------------- validate_data
@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=2, max_side=8),
                  elements=st.floats(-1e6, 1e6)))
def test_validate_accepts_finite_2d(X):
    out = validate_data(X)
    assert out is X  # float64 input: no copy
    assert np.array_equal(validate_data(X.astype(np.float32)), X.astype(np.float32).astype(np.float64))
    assert np.array_equal(validate_data(X.tolist()), X)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 7), st.integers(1, 5), st.data())
def test_validate_reports_first_nonfinite(n, d, data):
    X = np.zeros((n, d))
    i = data.draw(st.integers(0, n - 1))
    j = data.draw(st.integers(0, d - 1))
    X[i, j] = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    with pytest.raises(ValueError, match=rf"non-finite.*row {i}, column {j}"):
        validate_data(X)


@pytest.mark.parametrize("X,err,words", [
    (np.zeros(5), ValueError, ["2D", "(5,)", "reshape(-1, 1)"]),
    (np.zeros((2, 3, 4)), ValueError, ["2D", "(2, 3, 4)"]),
    (np.zeros(()), ValueError, ["2D", "0D"]),
    (np.zeros((1, 4)), ValueError, ["1 sample", "at least 2"]),
    (np.zeros((0, 4)), ValueError, ["0 sample", "at least 2"]),
    (np.zeros((4, 0)), ValueError, ["0 feature(s)"]),
    ([[1.0, 2.0], [3.0]], ValueError, ["rectangular"]),
    ([["a", "b"], ["c", "d"]], TypeError, ["non-numeric"]),
    (np.ones((3, 2), dtype=complex), ValueError, ["complex"]),
    (None, TypeError, ["None"]),
])
def test_validate_rejects(X, err, words):
    with pytest.raises(err) as e:
        validate_data(X)
    for w in words:
        assert w in str(e.value)


def test_validate_sparse_and_min_samples():
    import scipy.sparse as sp
    with pytest.raises(TypeError, match="sparse"):
        validate_data(sp.csr_matrix(np.eye(3)))
    assert validate_data(np.zeros((1, 2)), min_samples=1).shape == (1, 2)
    with pytest.raises(ValueError, match="need at least 5"):
        validate_data(np.zeros((4, 2)), min_samples=5)
    with pytest.raises(TypeError, match="min_samples"):
        validate_data(np.zeros((4, 2)), min_samples=2.0)


# ---------------------------------------------------------------- load_array
@settings(max_examples=25, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=2, max_side=6),
                  elements=st.floats(-1e9, 1e9)),
       st.sampled_from([".npy", ".csv", ".txt", ".tsv"]), st.booleans())
def test_load_roundtrip(X, suffix, header):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"data{suffix}"
        if suffix == ".npy":
            np.save(p, X)
        else:
            delim = {".csv": ",", ".tsv": "\t", ".txt": " "}[suffix]
            hdr = delim.join(f"col{k}" for k in range(X.shape[1])) if header else ""
            np.savetxt(p, X, delimiter=delim, header=hdr, comments="", fmt="%.17g")
        Y = load_array(p)
        assert Y.dtype == np.float64 and np.array_equal(Y, X)


def test_load_explicit_skiprows_and_comments(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("# produced by a tool\nname,x,y\nunits,m,m\n1,2,3\n4,5,6\n")
    assert np.array_equal(load_array(p, skiprows=3), [[1, 2, 3], [4, 5, 6]])
    # auto-detection only skips one header line; the second text line is then reported
    with pytest.raises(ValueError, match="line 3, column 1.*'units'"):
        load_array(p)


def test_load_missing_file(tmp_path):
    p = tmp_path / "does_not_exist.csv"
    for err in (FileNotFoundError, ValueError, DataFileNotFoundError):
        with pytest.raises(err) as e:
            load_array(p)
        assert "does_not_exist.csv" in str(e.value) and "not found" in str(e.value)


def test_load_non_numeric(tmp_path):
    p = tmp_path / "words.csv"
    p.write_text("x,y\n1.0,2.0\n3.0,abc\n")
    with pytest.raises(ValueError, match=r"words.csv.*line 3, column 2: 'abc' is not a number"):
        load_array(p)
    q = tmp_path / "empty_field.csv"
    q.write_text("1,2\n3,\n")
    with pytest.raises(ValueError, match=r"line 2, column 2: empty field"):
        load_array(q)
    r = tmp_path / "ragged.txt"
    r.write_text("1 2\n3 4 5\n")
    with pytest.raises(ValueError, match=r"line 2 has 3 columns"):
        load_array(r)
    e = tmp_path / "empty.csv"
    e.write_text("\n\n")
    with pytest.raises(ValueError, match="no data"):
        load_array(e)
    h = tmp_path / "header_only.csv"
    h.write_text("a,b\n")
    with pytest.raises(ValueError, match="no data"):
        load_array(h)


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_load_nonfinite(tmp_path, bad):
    p = tmp_path / "x.csv"
    p.write_text(f"1,2\n3,4\n5,{bad}\n")
    with pytest.raises(ValueError, match=r"x.csv.*non-finite.*row 2, column 1"):
        load_array(p)
    q = tmp_path / "x.npy"
    A = np.ones((3, 2))
    A[0, 0] = float(bad)
    np.save(q, A)
    with pytest.raises(ValueError, match=r"non-finite.*row 0, column 0"):
        load_array(q)


def test_load_shapes(tmp_path):
    np.save(tmp_path / "v.npy", np.arange(4.0))
    assert np.array_equal(load_array(tmp_path / "v.npy"), np.arange(4.0).reshape(-1, 1))  # 1D -> (n, 1)
    (tmp_path / "v.txt").write_text("1\n2\n3\n")
    assert load_array(tmp_path / "v.txt").shape == (3, 1)
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"2D.*\(2, 3, 4\)"):
        load_array(tmp_path / "cube.npy")
    np.save(tmp_path / "one.npy", np.zeros((1, 3)))
    with pytest.raises(ValueError, match="1 sample.*at least 2"):
        load_array(tmp_path / "one.npy")
    (tmp_path / "row.csv").write_text("1,2,3\n")
    with pytest.raises(ValueError, match="1 sample.*at least 2"):
        load_array(tmp_path / "row.csv")
    np.save(tmp_path / "s.npy", np.float64(3.0))
    with pytest.raises(ValueError, match="2D"):
        load_array(tmp_path / "s.npy")


def test_load_refuses_pickles_and_odd_files(tmp_path):
    import pickle
    np.save(tmp_path / "obj.npy", np.array([[object()]], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="Python objects"):
        load_array(tmp_path / "obj.npy")
    (tmp_path / "x.pkl").write_bytes(pickle.dumps(np.eye(2)))
    with pytest.raises(ValueError, match="unsupported.*valid: .npy, .csv"):
        load_array(tmp_path / "x.pkl")
    (tmp_path / "fake.npy").write_text("1,2\n3,4\n")
    with pytest.raises(ValueError, match="not a valid .npy"):
        load_array(tmp_path / "fake.npy")
    np.save(tmp_path / "str.npy", np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(TypeError, match="dtype"):
        load_array(tmp_path / "str.npy")
    with pytest.raises(ValueError, match="directory"):
        load_array(tmp_path)
    with pytest.raises(TypeError, match="path must be"):
        load_array(3)


# ---------------------------------------------------------------- split
@settings(max_examples=30, deadline=None)
@given(st.integers(2, 60), st.data())
def test_split_partition(n, data):
    X = np.arange(2.0 * n).reshape(n, 2)
    k = data.draw(st.integers(1, n - 1))
    tr, te = split(X, k, random_state=data.draw(st.integers(0, 99)))
    assert len(te) == k and len(tr) == n - k
    assert sorted(np.vstack([tr, te])[:, 0]) == sorted(X[:, 0])


def test_split_errors_and_seed():
    X = np.arange(20.0).reshape(10, 2)
    a, b = split(X, 3, random_state=1), split(X, 3, random_state=1)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert len(split(X, 0.3, 0)[1]) == 3
    for bad in (0, 10, 11):
        with pytest.raises(ValueError, match="n_test"):
            split(X, bad)
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="n_test"):
            split(X, bad)
    with pytest.raises(ValueError, match="non-finite"):
        split(np.array([[np.nan, 1.0], [1.0, 1.0]]), 1)


# ---------------------------------------------------------------- latent-scale manifold
def test_latent_manifold_seeds_and_shape():
    A = ds.latent_manifold(50, n_features=12, intrinsic_dim=3, random_state=0)
    assert A.shape == (50, 12) and A.dtype == np.float64
    assert np.array_equal(A, ds.latent_manifold(50, n_features=12, intrinsic_dim=3, random_state=0))
    # noiseless points are sqrt(2) sin(.) Q^T with Q orthogonal: squared norm = 2 sum sin^2 <= 2 D
    B = ds.latent_manifold(400, n_features=12, intrinsic_dim=3, noise=0.0, random_state=1)
    assert np.all((B**2).sum(1) <= 24 + 1e-9)
    # another manifold_seed gives another manifold for the same latent draws
    C = ds.latent_manifold(400, n_features=12, intrinsic_dim=3, noise=0.0, random_state=1, manifold_seed=3)
    assert not np.allclose(B, C)
    with pytest.raises(ValueError, match="noise"):
        ds.latent_manifold(5, noise=-1.0)
    with pytest.raises(TypeError, match="intrinsic_dim"):
        ds.latent_manifold(5, intrinsic_dim=2.0)


# ---------------------------------------------------------------- IDX files and Fashion-MNIST
import gzip
import struct

_CODES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _idx_bytes(arr, code):
    "IDX encoding written from the format's definition: 0, 0, type, ndim, big-endian sizes, big-endian data."
    return bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(_CODES[code]).tobytes()


@pytest.mark.parametrize("code", sorted(_CODES))
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path, code, gz):
    rng = np.random.default_rng(code)
    a = (rng.standard_normal((3, 4, 2)) * 100).astype(_CODES[code]) if code >= 0x0D else \
        rng.integers(0, 100, (3, 4, 2)).astype(_CODES[code])
    f = tmp_path / ("a.idx.gz" if gz else "a.idx")
    f.write_bytes(gzip.compress(_idx_bytes(a, code)) if gz else _idx_bytes(a, code))
    b = ds.read_idx(f)
    assert b.shape == a.shape and b.dtype.isnative and np.array_equal(b, a)


@pytest.mark.parametrize("mangle,match", [
    (lambda r: b"\x00\x01" + r[2:], "not an IDX file"),
    (lambda r: r[:2] + b"\x0a" + r[3:], "not an IDX file"),
    (lambda r: r[:-3], "truncated"),
    (lambda r: r + b"\x00", r"payload has 13 bytes"),
    (lambda r: r[:6], "announces 2 dimension"),
    (lambda r: r[:3] + b"\x00" + r[4:], "0 dimension"),
    (lambda r: b"", "empty"),
])
def test_read_idx_refuses_malformed_files(tmp_path, mangle, match):
    raw = _idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4), 0x08)
    f = tmp_path / "bad.idx"
    f.write_bytes(mangle(raw))
    with pytest.raises(ValueError, match=match):
        ds.read_idx(f)


def test_fashion_mnist_missing_files_and_checksums(tmp_path):
    with pytest.raises(DataFileNotFoundError, match="dataset-fashion-mnist"):
        ds.fashion_mnist("train", path=tmp_path)
    for name in ds.FASHION_MNIST_FILES["train"]:
        (tmp_path / name).write_bytes(gzip.compress(_idx_bytes(np.zeros((2, 28, 28), np.uint8), 0x08)))
    with pytest.raises(ValueError, match="checksum mismatch.*train-images-idx3-ubyte.gz"):
        ds.fashion_mnist("train", path=tmp_path)
    with pytest.raises(ValueError, match="split must be one of"):
        ds.fashion_mnist("val")
    assert sorted(ds.FASHION_MNIST_SHA256) == sorted(f for pair in ds.FASHION_MNIST_FILES.values() for f in pair)


_HAVE_FMNIST = all((ds.FASHION_MNIST_DIR / f).is_file() for f in ds.FASHION_MNIST_SHA256)


@pytest.mark.skipif(not _HAVE_FMNIST, reason=f"Fashion-MNIST not installed: {ds.FASHION_MNIST_MISSING}")
@pytest.mark.parametrize("split_name,n", [("train", 60000), ("test", 10000)])
def test_fashion_mnist_real_files(split_name, n):
    X, y = ds.fashion_mnist(split_name)
    assert X.shape == (n, 784) and X.dtype == np.float64 and y.shape == (n,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert np.array_equal(np.bincount(y), np.full(10, n // 10))    # balanced classes, as published
    # pixels are k / 255: the parser kept every byte (no sign or byte-order damage)
    assert np.allclose(X * 255, np.round(X * 255), atol=1e-9)
    # independent read with the standard library only: the same bytes
    names = ds.FASHION_MNIST_FILES[split_name]
    raw = gzip.open(ds.FASHION_MNIST_DIR / names[0]).read()
    assert struct.unpack(">4I", raw[:16]) == (2051, n, 28, 28)              # 0x00000803: ubyte, 3 dims
    assert np.array_equal(np.frombuffer(raw, np.uint8, offset=16)[:784 * 5], np.round(X[:5] * 255).ravel())
    lab = gzip.open(ds.FASHION_MNIST_DIR / names[1]).read()
    assert struct.unpack(">2I", lab[:8]) == (2049, n) and np.array_equal(np.frombuffer(lab, np.uint8, offset=8), y)


def test_load_array_refuses_lying_npy_headers_and_reads_quoted_tables(tmp_path):
    from mmsold.datasets import load_array
    h = tmp_path / "huge.npy"
    with open(h, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False, "shape": (10**12, 2)})
        fh.write(b"\0" * 64)
    with pytest.raises(ValueError, match=r"claims shape \(1000000000000, 2\)"):
        load_array(h)
    g = tmp_path / "garbled.npy"
    g.write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f8', (((\n")
    with pytest.raises(ValueError, match="not a valid .npy file"):
        load_array(g)
    q = tmp_path / "quoted.csv"
    q.write_text('"x","y"\n"1.5","2"\n"3",4e-1\n')
    np.testing.assert_array_equal(load_array(q), [[1.5, 2.0], [3.0, 0.4]])


# ---------------------------------------------------------------- farthest-point thinning (issue 30)
@st.composite
def points_and_n(draw):
    N = draw(st.integers(1, 60))
    d = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, d)) * rng.uniform(0.1, 10, size=d)
    n = draw(st.integers(1, N))
    return X, n, draw(st.integers(0, 2**16))


def _sq_dists(A, B):  # an independent computation (broadcast differences, not the library's loop)
    return ((A[:, None, :] - B[None, :, :]) ** 2).sum(-1)


@given(points_and_n())
@settings(max_examples=60, deadline=None)
def test_farthest_point_sample_max_min_property(case):
    X, n, seed = case
    S, idx = ds.farthest_point_sample(X, n, random_state=seed, return_index=True)
    assert S.shape == (n, X.shape[1]) and len(np.unique(idx)) == n
    np.testing.assert_array_equal(S, X[idx])
    assert len(np.unique(S, axis=0)) == n                                  # distinct rows (continuous X)
    np.testing.assert_array_equal(S, ds.farthest_point_sample(X, n, random_state=seed))   # same seed
    if n >= 2:
        D = _sq_dists(S, S) + np.diag(np.full(n, np.inf))
        cover = _sq_dists(X, S).min(axis=1).max()                           # covering radius^2 over X
        assert cover <= D.min() * (1 + 1e-9) + 1e-300
        # greedy: each pick after the first is a farthest row from the picks before it
        for k in range(1, n):
            far = _sq_dists(X, S[:k]).min(axis=1)
            assert far[idx[k]] >= far.max() * (1 - 1e-12)


def test_farthest_point_sample_bad_input():
    X = np.random.default_rng(0).normal(size=(10, 2))
    for bad, err in [(0, ValueError), (-3, ValueError), (11, ValueError), (True, TypeError), (2.5, TypeError),
                     ("3", TypeError)]:
        with pytest.raises(err, match="n"):
            ds.farthest_point_sample(X, bad)
    with pytest.raises(ValueError, match="exceeds the number of rows"):
        ds.farthest_point_sample(X, 11)
    with pytest.raises(TypeError, match="return_index"):
        ds.farthest_point_sample(X, 2, return_index="yes")
    with pytest.raises(ValueError):
        ds.farthest_point_sample(np.array([[0.0, np.nan]]), 1)
    # the first pick follows the seed; the rest are then determined
    firsts = {ds.farthest_point_sample(X, 1, random_state=s)[0, 0] for s in range(30)}
    assert len(firsts) > 1
