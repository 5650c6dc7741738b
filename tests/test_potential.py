"""The score estimators agree in their limits (derived in nbs/01_potential.ipynb)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmsold.core import as_generator
from mmsold.neighbors import BruteNeighbors, KDTreeNeighbors
from mmsold.potential import (log_p_delta, posterior_mean,
                              smoothed_potential, smoothed_score)


@st.composite
def problem(draw, max_d=4):
    d = draw(st.integers(1, max_d))
    N = draw(st.integers(2, 50))
    seed = draw(st.integers(0, 2**32 - 1))
    delta = draw(st.floats(0.05, 2.0))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, d)) * rng.uniform(0.5, 3)
    Z = rng.normal(size=(7, d)) * 2
    return X, Z, delta, rng


@given(problem())
def test_gmm_score_is_gradient_of_log_density(pb):
    X, Z, delta, _ = pb
    s = smoothed_score(Z, X, delta, 0.0)
    h = 1e-5 * delta
    fd = np.stack([(log_p_delta(Z + h * e, X, delta) - log_p_delta(Z - h * e, X, delta)) / (2 * h)
                   for e in np.eye(X.shape[1])], axis=1)
    np.testing.assert_allclose(s, fd, rtol=1e-4, atol=1e-4 * (1 + np.abs(fd).max()))


@given(problem())
def test_knn_with_all_points_equals_full_softmax(pb):
    X, Z, delta, _ = pb
    full = posterior_mean(Z, X, delta)
    for nn in (KDTreeNeighbors(X), BruteNeighbors(X)):
        np.testing.assert_allclose(posterior_mean(Z, X, delta, n_neighbors=len(X), neighbors=nn), full, atol=1e-10)
    # K = N - 1 drops only the farthest point: differs from full by at most its (tiny or not) weight
    if len(X) > 2:
        knn = posterior_mean(Z, X, delta, n_neighbors=len(X) - 1)
        assert np.isfinite(knn).all()


@given(problem(max_d=2), st.floats(0.05, 1.0))
def test_quadrature_score_is_gradient_of_quadrature_potential(pb, sigma):
    X, Z, delta, _ = pb
    n_quad = 20
    s = smoothed_score(Z, X, delta, sigma, method="quadrature", n_quad=n_quad)
    h = 1e-5 * delta
    fd = np.stack([-(smoothed_potential(Z + h * e, X, delta, sigma, n_quad=n_quad)
                     - smoothed_potential(Z - h * e, X, delta, sigma, n_quad=n_quad)) / (2 * h)
                   for e in np.eye(X.shape[1])], axis=1)
    np.testing.assert_allclose(s, fd, rtol=1e-4, atol=1e-4 * (1 + np.abs(fd).max()))


def test_monte_carlo_converges_to_quadrature_at_rate_one_over_sqrt_L():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2)); Z = rng.normal(size=(4, 2)); delta, sigma = 0.5, 0.4
    ref = smoothed_score(Z, X, delta, sigma, method="quadrature", n_quad=60)
    errs = {L: np.mean([np.abs(smoothed_score(Z, X, delta, sigma, n_noise=L, random_state=k) - ref).mean()
                        for k in range(30)]) for L in (16, 256, 4096)}
    # error ~ c / sqrt(L): each 16x more draws should cut it about 4x; accept 2.5x to 6.5x
    for a, b in ((16, 256), (256, 4096)):
        assert 2.5 < errs[a] / errs[b] < 6.5, errs


def test_gaussian_data_limit_of_smoothing():
    # For one training point the log density is quadratic, and log-domain smoothing only shifts it by
    # a constant: the smoothed score equals the unsmoothed one exactly (checked by quadrature).
    X = np.array([[0.3, -1.0]]); Z = np.random.default_rng(1).normal(size=(5, 2))
    np.testing.assert_allclose(smoothed_score(Z, X, 0.7, 0.9, method="quadrature", n_quad=6),
                               smoothed_score(Z, X, 0.7, 0.0), atol=1e-12)
    V0 = smoothed_potential(Z, X, 0.7, 0.0); V1 = smoothed_potential(Z, X, 0.7, 0.9, n_quad=6)
    np.testing.assert_allclose(V1 - V0, np.full(5, 2 * 0.9**2 / (2 * 0.7**2)), atol=1e-10)


def test_same_seed_same_score_and_bad_input():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3)); Z = rng.normal(size=(4, 3))
    a = smoothed_score(Z, X, 0.3, 0.2, n_noise=5, n_neighbors=7, random_state=11)
    b = smoothed_score(Z, X, 0.3, 0.2, n_noise=5, n_neighbors=7, random_state=11)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="delta must be > 0"):
        smoothed_score(Z, X, -0.1, 0.2)
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        smoothed_score(Z, X, 0.1, -0.2)
    with pytest.raises(TypeError, match="random_state"):
        as_generator("seed")
