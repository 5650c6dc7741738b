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
    (dict(n_neighbors=2.5), TypeError, "n_neighbors"), (dict(kernel="cython"), ValueError, "kernel"),
    (dict(n_jobs=0), ValueError, "n_jobs"), (dict(n_jobs=-2), ValueError, "n_jobs")])
def test_validation(kw, err, msg):
    with pytest.raises(err, match=msg):
        NearestRemainderScore(np.zeros((5, 2)), 0.1, 0.5, **kw)


def test_validation_shapes():
    est = NearestRemainderScore(np.zeros((5, 2)), 0.1, 0.0)
    with pytest.raises(ValueError, match="shape"):
        est(np.zeros((3, 3)), 0)
    with pytest.raises(TypeError, match="unknown|does not take"):
        make_score_estimator("nearest_remainder", np.zeros((5, 2)), 0.1, 0.1, n_smoothing=2)


# ---------------------------------------------------------------------------------------------------------
# the fast paths (search="float32" / "reuse") against the straightforward one and against brute force
# ---------------------------------------------------------------------------------------------------------
import pickle

from mmsold.score.nearest_remainder import candidate_search, rounding_bound, screening_bound


def _brute_topk(Z, X, K):
    D = ((Z[:, None] - X[None]) ** 2).sum(-1)
    return np.sort(np.argsort(D, axis=1)[:, :K], axis=1)


_problem = dict(N=st.integers(12, 150), d=st.integers(1, 8), P=st.integers(1, 8), K=st.integers(1, 10),
                L=st.integers(0, 10), cf=st.floats(1.0, 6.0), offset=st.floats(-5, 5), seed=st.integers(0, 2**20))


@settings(max_examples=30, deadline=None)
@given(**_problem)
def test_fast_paths_same_topk_and_scores_as_exact(N, d, P, K, L, cf, offset, seed):
    if K >= N:
        K = N - 1
    r = np.random.default_rng(seed)
    X = r.normal(size=(N, d)) * np.geomspace(3, 0.3, d) + offset
    Z = X[r.integers(0, N, P)] + 0.2 * r.normal(size=(P, d))
    opts = dict(n_neighbors=K, n_remainder=L, n_noise=2)
    ref = NearestRemainderScore(X, 0.4, 0.3, search="exact", **opts)
    s0, V0 = ref(Z, seed)
    for search, kernel in itertools.product(("float32", "reuse"), ("numpy", "numba")):
        est = NearestRemainderScore(X, 0.4, 0.3, search=search, candidate_factor=cf, kernel=kernel, **opts)
        s1, V1 = est(Z, seed)
        np.testing.assert_array_equal(np.sort(est.neighbors_, 1), _brute_topk(Z, X, K))
        # same sets and same random stream: equal up to rounding
        np.testing.assert_allclose(s1, s0, rtol=1e-9, atol=1e-9 * np.abs(s0).max())
        np.testing.assert_allclose(V1, V0, rtol=1e-9, atol=1e-9)


@settings(max_examples=20, deadline=None)
@given(**_problem, antithetic=st.booleans(), n_jobs=st.sampled_from([1, 2]),
       moves=st.lists(st.floats(0.0, 1.5), min_size=2, max_size=5))
def test_compiled_kernel_equals_numpy_blocks_along_a_run(N, d, P, K, L, cf, offset, seed, antithetic, n_jobs, moves):
    "The fused kernel (mmsold.score.fused) and the NumPy blocks: same nearest sets, refreshes and scores on every call."
    K = min(K, N - 1)
    r = np.random.default_rng(seed)
    X = r.normal(size=(N, d)) * np.geomspace(3, 0.3, d) + offset
    Z = X[r.integers(0, N, P)] + 0.1 * r.normal(size=(P, d))
    opts = dict(n_neighbors=K, n_remainder=L, n_noise=2, antithetic=antithetic, candidate_factor=cf, search="reuse")
    a = NearestRemainderScore(X, 0.4, 0.3, kernel="numpy", **opts)
    b = NearestRemainderScore(X, 0.4, 0.3, kernel="numba", n_jobs=n_jobs, **opts)
    for i, size in enumerate(moves):
        Z = Z + size * r.normal(size=Z.shape)
        (s0, V0), (s1, V1) = a(Z, i), b(Z, i)
        np.testing.assert_array_equal(np.sort(a.neighbors_, 1), np.sort(b.neighbors_, 1))
        assert (a.n_refreshed_, a.n_float64_) == (b.n_refreshed_, b.n_float64_)
        np.testing.assert_allclose(s1, s0, rtol=1e-9, atol=1e-9 * np.abs(s0).max())
        np.testing.assert_allclose(V1, V0, rtol=1e-9, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(**_problem, moves=st.lists(st.floats(0.0, 1.5), min_size=3, max_size=8))
def test_reuse_never_misses_a_true_neighbour(N, d, P, K, L, cf, offset, seed, moves):
    if K >= N:
        K = N - 1
    r = np.random.default_rng(seed)
    X = r.normal(size=(N, d)) + offset
    Z = X[r.integers(0, N, P)] + 0.1 * r.normal(size=(P, d))
    est = NearestRemainderScore(X, 0.5, 0.2, search="reuse", candidate_factor=cf, n_neighbors=K, n_remainder=L)
    kept = 0
    for i, size in enumerate(moves):
        Z = Z + size * r.normal(size=Z.shape) * (r.random((P, 1)) < 0.7)   # some particles stay put
        est(Z, i)
        np.testing.assert_array_equal(np.sort(est.neighbors_, 1), _brute_topk(Z, X, K))
        kept += P - est.n_refreshed_ if i else 0
    assert est.n_float64_ <= P


def test_reuse_keeps_lists_for_small_moves_and_refreshes_for_large():
    r = np.random.default_rng(0)
    X = r.normal(size=(2000, 5))
    Z = X[:50] + 0.01 * r.normal(size=(50, 5))
    est = NearestRemainderScore(X, 0.3, 0.1, search="reuse", n_neighbors=10)
    est(Z, 0)
    est(Z + 1e-6, 1)
    assert est.n_refreshed_ == 0             # tiny moves: every certificate holds
    est(Z + 5.0, 2)
    assert est.n_refreshed_ == 50            # far moves: none can hold
    np.testing.assert_array_equal(np.sort(est.neighbors_, 1), _brute_topk(Z + 5.0, X, 10))


@settings(max_examples=25, deadline=None)
@given(**_problem, visits=st.lists(st.integers(0, 2), min_size=3, max_size=10), jump=st.floats(0.5, 4.0))
def test_reuse_with_two_anchors_never_misses_a_true_neighbour(N, d, P, K, L, cf, offset, seed, visits, jump):
    # particles jump between three far-apart places in any order (more places than anchor slots), jittered:
    # whichever stored list a particle is certified against, the selected K must be the true K nearest
    if K >= N:
        K = N - 1
    r = np.random.default_rng(seed)
    X = r.normal(size=(N, d)) + offset
    base = X[r.integers(0, N, P)] + 0.1 * r.normal(size=(P, d))
    places = [base, base + jump, base - jump * r.normal(size=(P, d))]
    est = NearestRemainderScore(X, 0.5, 0.2, search="reuse", candidate_factor=cf, n_neighbors=K, n_remainder=L)
    for i, v in enumerate(visits):
        Z = places[v] + 1e-3 * r.normal(size=(P, d))
        est(Z, i)
        np.testing.assert_array_equal(np.sort(est.neighbors_, 1), _brute_topk(Z, X, K))


def test_reuse_keeps_both_lists_of_a_particle_swinging_between_two_places():
    r = np.random.default_rng(0)
    X = r.normal(size=(2000, 5))
    Za = X[:50] + 0.01 * r.normal(size=(50, 5))
    est = NearestRemainderScore(X, 0.3, 0.1, search="reuse", n_neighbors=10)
    refreshed = []
    for k in range(6):
        est((Za if k % 2 == 0 else Za + 5.0) + 1e-6 * k, k)
        refreshed.append(est.n_refreshed_)
    assert refreshed == [50, 50, 0, 0, 0, 0]   # a single list would be rebuilt at every call


def test_same_seed_same_output_and_reset_and_pickle():
    r = np.random.default_rng(1)
    X, Z = r.normal(size=(500, 6)), r.normal(size=(20, 6))
    path = [Z + 0.05 * k for k in range(4)]
    def run(est):
        return [est(z, k) for k, z in enumerate(path)]
    for search in ("float32", "reuse"):
        a = run(NearestRemainderScore(X, 0.3, 0.4, search=search, n_neighbors=8, n_remainder=12, n_noise=4))
        est = NearestRemainderScore(X, 0.3, 0.4, search=search, n_neighbors=8, n_remainder=12, n_noise=4)
        b = run(est)
        for (s1, V1), (s2, V2) in zip(a, b):
            np.testing.assert_array_equal(s1, s2)
            np.testing.assert_array_equal(V1, V2)
        est.reset()
        c = run(est)
        np.testing.assert_array_equal(a[-1][0], c[-1][0])
        clone = pickle.loads(pickle.dumps(est))
        assert clone._lists is None and clone._X32 is None
        np.testing.assert_array_equal(run(clone)[-1][0], a[-1][0])


def test_fast_paths_agree_in_distribution_with_straightforward():
    # straightforward = exact search + remainder by uniform keys; fast = reuse + rejection: different streams,
    # same law. Mean score over 300 independent calls each; tolerance 5 standard errors of the difference.
    r = np.random.default_rng(2)
    X = r.normal(size=(400, 3)) * [2.0, 1.0, 0.5]
    Z = X[:4] + 0.3 * r.normal(size=(4, 3))
    kw = dict(n_neighbors=5, n_remainder=20, n_noise=2)
    ref = NearestRemainderScore(X, 0.6, 0.5, search="exact", remainder_draw="permutation", **kw)
    fast = NearestRemainderScore(X, 0.6, 0.5, search="reuse", **kw)
    A = np.stack([ref(Z, 1000 + k)[0] for k in range(300)])
    B = np.stack([fast(Z, 5000 + k)[0] for k in range(300)])
    se = np.sqrt(A.var(0) / 300 + B.var(0) / 300)
    assert np.all(np.abs(A.mean(0) - B.mean(0)) < 5 * se + 1e-12), (A.mean(0), B.mean(0), se)


@settings(max_examples=25, deadline=None)
@given(d=st.integers(1, 800), scale=st.floats(1e-3, 1e3), offset=st.floats(-3, 3), seed=st.integers(0, 2**20))
def test_rounding_and_screening_bounds_hold(d, scale, offset, seed):
    r = np.random.default_rng(seed)
    X = (r.normal(size=(60, d)) + offset) * scale
    Z = (r.normal(size=(7, d)) + offset) * scale
    h = 0.5 * (X**2).sum(1)
    t = h - Z @ X.T
    q = (h.astype(np.float32) - Z.astype(np.float32) @ X.astype(np.float32).T).astype(float)
    xn, zn = np.linalg.norm(X, axis=1), np.linalg.norm(Z, axis=1)
    assert (np.abs(q - t) <= rounding_bound(d, xn.max(), zn)[:, None]).all()
    s = np.abs(X).max(1) / 32767
    tt = h - (Z.astype(np.float32) @ np.rint(X / s[:, None]).astype(np.int16).astype(np.float32).T) * s
    assert (2 * np.abs(tt - t) <= screening_bound(d, s, xn, zn[:, None], np.abs(Z).sum(1)[:, None])).all()
    # candidate_search: every non-candidate is at least D2 away, in both precisions
    D = ((Z[:, None] - X[None]) ** 2).sum(-1)
    for prec in ("float32", "float64"):
        C, D2 = candidate_search(Z, X, h, 10, prec)
        out = np.ones_like(D, bool)
        np.put_along_axis(out, C, False, 1)
        assert (D[out].reshape(7, -1) >= D2[:, None]).all()


@pytest.mark.parametrize("kw,err,msg", [
    (dict(search="kdtree"), ValueError, "search"), (dict(candidate_factor=0.5), ValueError, "candidate_factor"),
    (dict(remainder_draw="shuffle"), ValueError, "remainder_draw"),
    (dict(search="reuse", eta_draw="cholesky"), ValueError, "cholesky")])
def test_validation_fast_options(kw, err, msg):
    with pytest.raises(err, match=msg):
        NearestRemainderScore(np.zeros((5, 2)), 0.1, 0.5, **kw)
