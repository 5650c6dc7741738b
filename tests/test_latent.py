"""Tests for mmsold.latent (PCA latent, splits, features, evaluation) against independent computations."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from sklearn.decomposition import PCA

from mmsold.datasets import load_digits_class
from mmsold.latent import (DigitFeatures, PCALatent, class_images, digit_splits, evaluate_images,
                           nearest_training_pairs, sample_images)


@pytest.fixture(scope="module")
def X8():
    return load_digits_class(8)


@pytest.fixture(scope="module")
def splits():
    return digit_splits(random_state=0)


def test_projection_matches_sklearn_pca(X8):
    for k in (5, 23):
        lat = PCALatent(n_components=k, whiten=0.5).fit(X8)
        ref = PCA(n_components=k, svd_solver="full").fit(X8)
        assert np.allclose(lat.decode(lat.encode(X8)), ref.inverse_transform(ref.transform(X8)), atol=1e-8)
        # the same k-dimensional subspace: projectors agree
        assert np.allclose(lat.components_.T @ lat.components_, ref.components_.T @ ref.components_, atol=1e-8)


def test_variance_fraction_matches_sklearn(X8):
    for frac in (0.5, 0.8, 0.95):
        assert PCALatent(n_components=frac).fit(X8).n_components_ == PCA(n_components=frac, svd_solver="full").fit(X8).n_components_


def test_full_whitening_matches_sklearn_whiten(X8):
    lat = PCALatent(n_components=10, whiten=1.0).fit(X8)
    ref = PCA(n_components=10, whiten=True, svd_solver="full").fit(X8)
    N = len(X8)
    # sklearn whitens with the (N - 1) variance; ours with the population variance; signs are arbitrary
    A, B = lat.encode(X8), ref.transform(X8) * np.sqrt(N / (N - 1))
    assert np.allclose(np.abs(A), np.abs(B), atol=1e-8)


@settings(max_examples=20)
@given(alpha=st.floats(0, 1), k=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_latent_properties(alpha, k, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((40, 8)) @ rng.standard_normal((8, 8)) + 3.0
    lat = PCALatent(n_components=k, whiten=alpha).fit(X)
    Z = lat.encode(X)
    U = rng.standard_normal((5, k))
    assert np.allclose(lat.encode(lat.decode(U)), U, atol=1e-8)
    C = Z.T @ Z / len(Z)
    lam = np.linalg.eigvalsh(np.cov(X.T, bias=True))[::-1][:k]
    expected = lam ** (1 - alpha) / np.mean(lam ** (1 - alpha))   # variances prop. to lambda^(1-alpha), mean 1
    assert np.allclose(np.diag(C), expected, rtol=1e-7, atol=1e-9)
    assert np.allclose(C - np.diag(np.diag(C)), 0, atol=1e-8)


def test_pixel_option_is_exact_and_keeps_constant_pixels(X8):
    lat = PCALatent(n_components=None).fit(X8)
    U = np.random.default_rng(0).standard_normal((10, lat.n_components_))
    img = lat.decode(U)
    const = X8.std(0) == 0
    assert const.sum() == 12 and np.allclose(img[:, const], X8[0, const])
    assert np.allclose(lat.decode(lat.encode(X8)), X8, atol=1e-9)


@pytest.mark.parametrize("kw, exc, msg", [({"whiten": -0.1}, ValueError, "whiten"), ({"whiten": True}, TypeError, "whiten"),
                                          ({"n_components": 0}, ValueError, "1.."), ({"n_components": 1.5}, ValueError, "(0, 1)"),
                                          ({"n_components": "a"}, TypeError, "n_components")])
def test_bad_parameters(X8, kw, exc, msg):
    with pytest.raises(exc, match=msg.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        PCALatent(**kw).fit(X8)


def test_shape_errors(X8):
    lat = PCALatent(n_components=5).fit(X8)
    with pytest.raises(ValueError, match="features"):
        lat.encode(X8[:, :10])
    with pytest.raises(ValueError, match="k = 5"):
        lat.decode(np.zeros((2, 4)))


def test_splits_are_disjoint_stratified_and_seeded(splits):
    tr, va, te = (set(splits[p]) for p in ("train", "val", "test"))
    assert not (tr & va or tr & te or va & te) and len(tr | va | te) == 1797
    y = splits["y"]
    for c in range(10):
        n = np.sum(y == c)
        assert np.sum(y[splits["test"]] == c) == round(0.25 * n)
        assert np.sum(y[splits["val"]] == c) == round(0.15 * n)
    again = digit_splits(random_state=0)
    assert all(np.array_equal(again[p], splits[p]) for p in ("train", "val", "test"))
    assert np.all(class_images(splits, 3, "val") == splits["X"][splits["val"][y[splits["val"]] == 3]])
    with pytest.raises(ValueError, match="part"):
        class_images(splits, 3, "dev")


def test_features_are_the_classifier_hidden_layer(splits):
    X, y = splits["X"][splits["train"]], splits["y"][splits["train"]]
    feat = DigitFeatures(n_hidden=16, max_iter=200).fit(X, y)
    H = feat.transform(X[:20])
    logits = H @ feat.clf_.coefs_[1] + feat.clf_.intercepts_[1]
    p = np.exp(logits - logits.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
    assert np.allclose(p, feat.clf_.predict_proba(X[:20] / 16.0), atol=1e-10)


def test_nearest_pairs_and_memorisation_against_brute_force(splits):
    Xtr = class_images(splits, 8, "train")
    rng = np.random.default_rng(0)
    Q = np.vstack([Xtr[:5] + 0.01 * rng.standard_normal((5, 64)), rng.uniform(0, 16, (5, 64))])
    D = np.sqrt(((Q[:, None, :] - Xtr[None]) ** 2).sum(-1))
    Ds = np.sort(D, axis=1)
    idx, ratio = nearest_training_pairs(Q, Xtr)
    assert np.array_equal(idx, D.argmin(1)) and np.allclose(ratio, Ds[:, 0] / Ds[:, 1])
    r = evaluate_images(Q, Xtr, class_images(splits, 8, "test"))
    assert r["mem_share"] == pytest.approx(np.mean(Ds[:, 0] / Ds[:, 1] < 1 / 3)) == pytest.approx(0.5)


def test_sample_images_matches_moments_in_the_latent(splits):
    from mmsold.sampler import MMSOLD
    Xtr = class_images(splits, 8, "train")
    imgs, info = sample_images(MMSOLD(delta=1.0, sigma=0.0, n_steps=20), Xtr, 50, random_state=1)
    lat = info["latent"]
    Xp = lat.decode(lat.encode(Xtr))
    assert np.allclose(imgs.mean(0), Xp.mean(0), atol=1e-8)
    assert np.allclose(np.cov(imgs.T, bias=True), np.cov(Xp.T, bias=True), atol=1e-7)
    imgs2, _ = sample_images(MMSOLD(delta=1.0, sigma=0.0, n_steps=20), Xtr, 50, random_state=1)
    assert np.array_equal(imgs, imgs2)


def test_pca_latent_is_a_sklearn_transformer(X8):
    from sklearn.base import clone
    lat = PCALatent(n_components=7, whiten=0.25).fit(X8)
    assert np.array_equal(lat.transform(X8), lat.encode(X8))
    assert np.array_equal(lat.inverse_transform(lat.transform(X8[:3])), lat.decode(lat.encode(X8[:3])))
    assert np.array_equal(PCALatent(n_components=7, whiten=0.25).fit_transform(X8), lat.encode(X8))
    c = clone(lat)
    assert c.get_params() == {"n_components": 7, "whiten": 0.25} and not hasattr(c, "mean_")


# scikit-learn's estimator checks that do not pass, with the reason (none today: the shared
# mmsold.core.validate_data uses the wording and exception types the checks expect)
KNOWN_CHECK_FAILURES: set = set()


def test_sklearn_check_estimator():
    import warnings
    from sklearn.utils.estimator_checks import check_estimator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = check_estimator(PCALatent(), on_fail=None)
    failed = {r["check_name"] for r in res if r["status"] == "failed"}
    passed = {r["check_name"] for r in res if r["status"] == "passed"}
    assert failed <= KNOWN_CHECK_FAILURES, failed - KNOWN_CHECK_FAILURES
    assert {"check_transformer_general", "check_fit_idempotent", "check_n_features_in_after_fitting",
            "check_estimators_pickle", "check_parameters_default_constructible"} <= passed
