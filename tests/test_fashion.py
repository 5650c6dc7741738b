"""Tests for mmsold.autoencoder (Fashion-MNIST latent, classifier features, FID).

FID tests run everywhere; the model tests need the Fashion-MNIST files (Debian package
`dataset-fashion-mnist`) and the optional PyTorch extra, and skip with that message otherwise.
"""
import importlib.util

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from mmsold.autoencoder import ConvAutoencoder, FashionClassifier, as_images, cache_path, frechet_distance

TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not TORCH, reason="PyTorch (optional extra mmsold[baselines]) is not installed")


@pytest.fixture(scope="module")
def fashion():
    from mmsold.datasets import DataFileNotFoundError, fashion_mnist
    try:
        Xa, ya = fashion_mnist("train")
        Xb, yb = fashion_mnist("test")
    except DataFileNotFoundError:
        pytest.skip("Fashion-MNIST is not installed: apt-get install dataset-fashion-mnist (Debian package)")
    rng = np.random.default_rng(0)
    i, j = rng.choice(len(Xa), 1500, replace=False), rng.choice(len(Xb), 500, replace=False)
    return Xa[i], ya[i], Xb[j], yb[j]


def test_fid_of_a_set_with_itself_is_zero_and_fid_is_symmetric():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((500, 6)) @ rng.standard_normal((6, 6))
    B = rng.standard_normal((400, 6)) * 2 + 1
    assert abs(frechet_distance(A, A)) < 1e-8 * np.trace(np.cov(A, rowvar=False))
    assert np.isclose(frechet_distance(A, B), frechet_distance(B, A), rtol=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 6))
def test_fid_equals_gaussian_w2_for_commuting_covariances(seed, f):
    # independent formula: for covariances diagonal in the same basis,
    # W2^2 = |mu_a - mu_b|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2. Build sets whose sample covariances are
    # exactly diagonal by whitening random data and rescaling.
    rng = np.random.default_rng(seed)
    def exact(n, var, mu):
        X = rng.standard_normal((n, f))
        X = X - X.mean(0)
        w, U = np.linalg.eigh(np.cov(X, rowvar=False).reshape(f, f))
        return (X @ U / np.sqrt(w)) * np.sqrt(var) + mu
    va, vb = rng.uniform(0.1, 5, f), rng.uniform(0.1, 5, f)
    ma, mb = rng.normal(size=f), rng.normal(size=f)
    A, B = exact(60, va, ma), exact(50, vb, mb)
    w2 = np.sum((ma - mb) ** 2) + np.sum((np.sqrt(va) - np.sqrt(vb)) ** 2)
    assert np.isclose(frechet_distance(A, B), w2, rtol=1e-7, atol=1e-9)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError):
        frechet_distance(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError):
        as_images(np.zeros((2, 100)))
    with pytest.raises(ValueError):
        as_images(np.full((2, 784), -0.1))
    with pytest.raises(RuntimeError):
        ConvAutoencoder().transform(np.zeros((1, 784)))


def test_cache_key_depends_on_settings_seed_and_data(tmp_path):
    a = np.zeros((4, 784))
    base = cache_path(tmp_path, "m", {"seed": 0, "lr": 1e-3}, a)
    assert base == cache_path(tmp_path, "m", {"lr": 1e-3, "seed": 0}, a)
    assert base != cache_path(tmp_path, "m", {"seed": 1, "lr": 1e-3}, a)
    assert base != cache_path(tmp_path, "m", {"seed": 0, "lr": 2e-3}, a)
    assert base != cache_path(tmp_path, "m", {"seed": 0, "lr": 1e-3}, a + 0.5)


@needs_torch
def test_cache_key_depends_on_the_cpu_kernels(tmp_path):
    "A fit made with other torch CPU kernels (here forced to the portable ones) is not reused: it trains anew."
    import os
    import subprocess
    import sys
    import torch
    if torch.backends.cpu.get_cpu_capability() == "DEFAULT":
        pytest.skip("torch already runs its portable kernels here: no second kernel set to compare with")
    code = ("import numpy as np, torch; from mmsold.autoencoder import ConvAutoencoder; "
            "X = np.random.default_rng(0).random((64, 784)); "
            f"m = ConvAutoencoder(latent_dim=4, width=2, n_epochs=1, batch_size=32, cache_dir={str(tmp_path)!r}).fit(X); "
            "print(torch.backends.cpu.get_cpu_capability(), m.cache_file_.name)")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "ATEN_CPU_CAPABILITY": "default"},
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "DEFAULT"
    X = np.random.default_rng(0).random((64, 784))
    m = ConvAutoencoder(latent_dim=4, width=2, n_epochs=1, batch_size=32, cache_dir=tmp_path).fit(X)
    assert m.cache_file_.name != out[1] and not m.from_cache_
    again = ConvAutoencoder(latent_dim=4, width=2, n_epochs=1, batch_size=32, cache_dir=tmp_path).fit(X)
    assert again.from_cache_ and again.cache_file_ == m.cache_file_


@needs_torch
def test_autoencoder_cache_reloads_bit_identically_and_seeded_training_reproduces(fashion, tmp_path):
    X, _, Xt, _ = fashion
    kw = dict(latent_dim=16, width=8, n_epochs=4, batch_size=32, random_state=3)
    a = ConvAutoencoder(cache_dir=tmp_path, **kw).fit(X)
    b = ConvAutoencoder(cache_dir=tmp_path, **kw).fit(X)          # from the cache
    c = ConvAutoencoder(cache_dir=None, **kw).fit(X)              # retrained from the seed
    assert not a.from_cache_ and b.from_cache_ and not c.from_cache_ and a.cache_file_.is_file()
    for m in (b, c):
        for (ka, va), (kb, vb) in zip(a.net_.state_dict().items(), m.net_.state_dict().items()):
            assert ka == kb and np.array_equal(va.numpy(), vb.numpy())
    assert np.array_equal(a.transform(Xt), b.transform(Xt))
    assert np.array_equal(a.history_, c.history_)
    d = ConvAutoencoder(cache_dir=None, **{**kw, "random_state": 4}).fit(X)
    assert not np.array_equal(a.transform(Xt[:5]), d.transform(Xt[:5]))
    # training works: loss falls and the reconstruction beats the mean image
    assert a.history_[-1] < a.history_[0]
    assert a.reconstruction_mse(Xt) < np.mean((Xt - X.mean(0)) ** 2)
    assert a.inverse_transform(a.transform(Xt[:3])).shape == (3, 784)


@needs_torch
def test_classifier_well_above_chance_and_features(fashion):
    X, y, Xt, yt = fashion
    clf = FashionClassifier(n_features=16, width=8, n_epochs=3, batch_size=32, random_state=0).fit(X, y)
    acc = clf.score(Xt, yt)
    # 10 balanced classes: chance is 0.1 and its sd on 500 images ~0.013; a trained CNN is far above
    assert acc > 0.5, acc
    F = clf.transform(Xt)
    assert F.shape == (len(Xt), 16) and F.dtype == np.float64 and np.all(F >= 0)  # after a ReLU
    assert abs(frechet_distance(F, F)) < 1e-6 * max(1.0, np.trace(np.cov(F, rowvar=False)))
    with pytest.raises(ValueError):
        FashionClassifier().fit(X[:10], np.full(10, 12))
