"""Checks of the paper's Algorithm 2 estimator against independent computations."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from mmsold.core import softmax_rows
from mmsold.potential import log_p_delta
from mmsold.score import make_score_estimator
from mmsold.score.nearest_remainder import (NearestRemainderScore, draw_eta, nearest_remainder_score,
                                            select_centres)


def _full_mc(Z, X, delta, sigma, eps):
    Y = Z[:, None] + sigma * eps
    W, _ = softmax_rows(-((Y[:, :, None] - X[None, None]) ** 2).sum(-1) / (2 * delta**2))
    return ((W @ X).mean(1) - Z) / delta**2


@settings(max_examples=25, deadline=None)
@given(N=st.integers(1, 12), P=st.integers(1, 4), d=st.integers(1, 4), seed=st.integers(0, 2**20),
       sigma=st.floats(0.05, 1.0))
def test_K_ge_N_is_full_softmax_mc_draw_by_draw(N, P, d, seed, sigma):
    r = np.random.default_rng(seed)
    X, Z = r.normal(size=(N, d)), r.normal(size=(P, d))
    eps = np.random.default_rng(seed + 1).standard_normal((P, 3, d))
    got = nearest_remainder_score(Z, X, 0.5, sigma, n_neighbors=N, n_noise=3, antithetic=False, random_state=seed + 1,
                                  eta_draw="eps")
    np.testing.assert_allclose(got, _full_mc(Z, X, 0.5, sigma, eps), rtol=1e-8, atol=1e-8)


def test_K_eq_N_expectation_matches_quadrature_1d():
    # E over eps of the full-softmax MC estimator, by 200-node Gauss-Hermite; antithetic MC mean of 4000 draws
    r = np.random.default_rng(1)
    X, Z = r.normal(size=(15, 1)), np.array([[0.3], [-1.2]])
    t, w = np.polynomial.hermite_e.hermegauss(200)
    w = w / w.sum()
    ref = np.stack([_full_mc(Z, X, 0.5, 0.4, np.full((2, 1, 1), tq)) for tq in t], 1)[..., 0] @ w
    got = nearest_remainder_score(Z, X, 0.5, 0.4, n_neighbors=15, n_noise=4000, random_state=2)
    # MC standard error from the per-draw spread, 5 s.e. tolerance
    draws = np.stack([_full_mc(Z, X, 0.5, 0.4, np.full((2, 1, 1), tq)) for tq in np.random.default_rng(3).standard_normal(2000)])
    se = draws.std(0)[:, 0] / np.sqrt(2000)
    assert np.all(np.abs(got[:, 0] - ref) < 5 * se + 1e-9), (got[:, 0], ref, se)


@settings(max_examples=25, deadline=None)
@given(N=st.integers(2, 30), K=st.integers(1, 10), L=st.integers(0, 12), d=st.integers(1, 3), seed=st.integers(0, 2**20))
def test_sigma0_is_exact_score_of_selected_with_correction(N, K, L, d, seed):
    r = np.random.default_rng(seed)
    X, Z, delta = r.normal(size=(N, d)), r.normal(size=(3, d)), 0.7
    s, V = NearestRemainderScore(X, delta, 0.0, n_neighbors=K, n_remainder=L)(Z, np.random.default_rng(seed))
    sel = select_centres(Z, X, (X**2).sum(1), K, L, np.random.default_rng(seed))
    for p in range(3):
        Xs = X[sel.idx[p]]
        a = -((Z[p] - Xs) ** 2).sum(1) / (2 * delta**2) + sel.log_corr[p]
        w = np.exp(a - a.max()); w /= w.sum()
        np.testing.assert_allclose(s[p], (w @ Xs - Z[p]) / delta**2, rtol=1e-9, atol=1e-9)
    m = min(N, K + L)
    assert sel.idx.shape == (3, m)
    if N <= K + L:  # the whole set is selected with zero correction: exact
        np.testing.assert_allclose(V, -log_p_delta(Z, X, delta), rtol=1e-9, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(N=st.integers(3, 9), K=st.integers(1, 4), L=st.integers(1, 5), seed=st.integers(0, 2**20))
def test_remainder_weighting_unbiased_for_normaliser(N, K, L, seed):
    if N <= K:
        return
    L = min(L, N - K)
    a = np.random.default_rng(seed).normal(size=N) * 2
    nb, rest = np.arange(K), np.arange(K, N)
    ests = [np.exp(a[nb]).sum() + (N - K) / L * np.exp(a[list(R)]).sum() for R in itertools.combinations(rest, L)]
    np.testing.assert_allclose(np.mean(ests), np.exp(a).sum(), rtol=1e-12)


def test_eta_two_routes_same_law():
    r = np.random.default_rng(4)
    Xs = r.normal(size=(2, 5, 9))
    G = 0.5**2 * np.matmul(Xs, Xs.transpose(0, 2, 1))
    n = 40000
    for method in ("eps", "cholesky"):
        e = draw_eta(Xs, 0.5, n, r, method)
        for b in range(2):
            C = e[b].T @ e[b] / n
            tol = 6 * np.sqrt(2 / n) * np.sqrt(np.outer(G[b].diagonal(), G[b].diagonal()))
            assert np.all(np.abs(C - G[b]) < tol), method
            assert np.abs(e[b].mean(0)).max() < 6 * np.sqrt(G[b].diagonal().max() / n)


def test_eta_draw_options_agree_in_mean():
    r = np.random.default_rng(6)
    X, Z = r.normal(size=(60, 4)), r.normal(size=(2, 4))
    a = [NearestRemainderScore(X, 0.8, 0.3, n_neighbors=10, n_remainder=10, n_noise=2000, eta_draw=m)(Z, 7)[0]
         for m in ("eps", "cholesky")]
    np.testing.assert_allclose(a[0], a[1], atol=0.05 * np.abs(a[0]).max())


def test_edge_cases_and_registry():
    r = np.random.default_rng(0)
    X = r.normal(size=(20, 1))
    s = nearest_remainder_score(X[:1] + 0.1, X, 0.3, 0.2, n_neighbors=5, n_remainder=50, random_state=0)  # P=1, d=1, N-K<L
    assert s.shape == (1, 1) and np.isfinite(s).all()
    est = make_score_estimator("nearest_remainder", X, 0.3, 0.2, n_neighbors=30, n_noise=4)
    s, V = est(X[:3], np.random.default_rng(1))
    assert s.shape == (3, 1) and V.shape == (3,)
    a = nearest_remainder_score(X[:4], X, 0.3, 0.2, random_state=3)
    np.testing.assert_array_equal(a, nearest_remainder_score(X[:4], X, 0.3, 0.2, random_state=3))


@pytest.mark.parametrize("kw,err,msg", [
    (dict(n_neighbors=0), ValueError, "n_neighbors"), (dict(n_remainder=-1), ValueError, "n_remainder"),
    (dict(n_noise=3), ValueError, "even"), (dict(antithetic="yes"), TypeError, "antithetic"),
    (dict(n_neighbors=2.5), TypeError, "n_neighbors")])
def test_validation(kw, err, msg):
    with pytest.raises(err, match=msg):
        NearestRemainderScore(np.zeros((5, 2)), 0.1, 0.5, **kw)


def test_validation_shapes():
    est = NearestRemainderScore(np.zeros((5, 2)), 0.1, 0.0)
    with pytest.raises(ValueError, match="shape"):
        est(np.zeros((3, 3)), 0)
    with pytest.raises(TypeError, match="unknown|does not take"):
        make_score_estimator("nearest_remainder", np.zeros((5, 2)), 0.1, 0.1, n_smoothing=2)
