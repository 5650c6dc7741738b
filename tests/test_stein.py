"""Stein-identity multipliers and the BAOAB tilted-potential sampler (nbs/13_stein_kinetic.ipynb)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from sklearn.base import clone

from mmsold.stein import SteinKineticSampler, stein_multipliers


def _gauss(seed, n, d):
    r = np.random.default_rng(seed)
    A = r.normal(size=(d, d))
    return r.multivariate_normal(r.normal(size=d), A @ A.T + 0.5 * np.eye(d), size=n)


def _moments(X):
    return X.mean(0), np.cov(X, rowvar=False, bias=True).reshape(X.shape[1], X.shape[1])


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(1, 5))
def test_multipliers_vanish_for_the_datas_own_gaussian_potential(seed, d):
    X = _gauss(seed, 80, d)
    m, S = _moments(X)
    lam, Lam = stein_multipliers(X, lambda Q: (Q - m) @ np.linalg.inv(S))   # grad of (q-m)^T S^-1 (q-m) / 2
    scale = np.abs(np.linalg.inv(S)).max()
    np.testing.assert_allclose(lam, 0.0, atol=1e-10 * scale * np.abs(X).max())
    np.testing.assert_allclose(Lam, 0.0, atol=1e-9 * scale)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(1, 5))
def test_gaussian_tilt_identity(seed, d):
    "For V of N(mu, C) the tilt to the data moments is Lam = S^-1 - C^-1, lam = -C^-1 (x_bar - mu) (notebook 11)."
    X = _gauss(seed, 120, d)
    r = np.random.default_rng(seed + 7)
    B = r.normal(size=(d, d)); C = B @ B.T + np.eye(d); mu = r.normal(size=d)
    m, S = _moments(X)
    lam, Lam = stein_multipliers(X, (X - mu) @ np.linalg.inv(C))
    np.testing.assert_allclose(Lam, np.linalg.inv(S) - np.linalg.inv(C), atol=1e-8 * np.abs(np.linalg.inv(S)).max())
    np.testing.assert_allclose(lam, -np.linalg.inv(C) @ (m - mu), atol=1e-8 * (1 + np.abs(lam).max()))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(1, 6))
def test_lyapunov_equation_holds(seed, d):
    "Sigma Lam + Lam Sigma = 2 S with S = I - sym(C), C = mean (x - x_bar) g^T, for arbitrary gradients g."
    X = _gauss(seed, 50, d)
    G = np.random.default_rng(seed + 1).normal(size=X.shape) * 3.0
    lam, Lam = stein_multipliers(X, G)
    m, Sig = _moments(X)
    C = sum(np.outer(x - m, g) for x, g in zip(X, G)) / len(X)       # loop: independent of the vectorised code
    S = np.eye(d) - 0.5 * (C + C.T)
    np.testing.assert_allclose(Sig @ Lam + Lam @ Sig, 2 * S, atol=1e-9 * (1 + np.abs(S).max()))
    np.testing.assert_allclose(Lam, Lam.T, atol=1e-12 * (1 + np.abs(Lam).max()))
    np.testing.assert_allclose(lam, -G.mean(0), rtol=1e-12, atol=1e-14)


def test_multiplier_errors():
    X = _gauss(0, 30, 3)
    with pytest.raises(ValueError, match="shape"):
        stein_multipliers(X, np.zeros((30, 2)))
    Xs = X.copy(); Xs[:, 2] = Xs[:, 0]
    with pytest.raises(ValueError, match="singular"):
        stein_multipliers(Xs, np.zeros_like(Xs))


def test_sampler_seeded_reproducible_and_clonable():
    X = _gauss(1, 100, 2)
    ks = SteinKineticSampler(delta=0.3, sigma=0.1, score_estimator="mc", step_size=0.01, n_steps=30, random_state=0)
    a = ks.fit(X).sample(40, random_state=5)
    b = clone(ks).fit(X).sample(40, random_state=5)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, ks.sample(40, random_state=6))
    assert a.shape == (40, 2) and np.isfinite(a).all()
    assert clone(ks).get_params() == ks.get_params()


def test_sampler_starts_near_training_points():
    "Data start: training points plus delta-noise (a tiny step barely moves them)."
    X = _gauss(2, 100, 3)
    delta = 0.01
    Q = SteinKineticSampler(delta=delta, sigma=0.0, step_size=1e-7, n_steps=1).fit(X).sample(300, random_state=0)
    dist = np.sqrt(((Q[:, None] - X[None]) ** 2).sum(-1)).min(1)
    # |delta xi| for xi ~ N(0, I_3) is below 6 delta with overwhelming probability
    assert dist.max() < 6 * delta and np.median(dist) > 0.5 * delta


def test_sampler_bad_parameters():
    X = _gauss(3, 20, 2)
    with pytest.raises(ValueError, match="step_size"):
        SteinKineticSampler(step_size=0.0).fit(X)
    with pytest.raises(TypeError, match="score_options"):
        SteinKineticSampler(score_options=[1]).fit(X)


def test_estimator_seed_fixes_fit_and_sample():
    from mmsold.datasets import checkerboard
    X = checkerboard(300, random_state=0)
    kw = dict(delta=0.2, sigma=0.1, step_size=5e-3, n_steps=20, random_state=7)
    a = SteinKineticSampler(**kw).fit(X).sample(100)
    b = SteinKineticSampler(**kw).fit(X).sample(100)
    np.testing.assert_array_equal(a, b)
