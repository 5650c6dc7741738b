"""The score layer (mmsold.score, mmsold.potential's functional API): the estimators reproduce the
earlier formula bit for bit with the same draws, agree with one another across neighbour searches, reset
their search at the start of a run, and pickle without caches."""
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial import cKDTree

from mmsold.datasets import checkerboard
from mmsold.neighbors import BruteForceNeighbors, CandidateNeighbors, KDTreeNeighbors, make_neighbors
from mmsold.potential import smoothed_score
from mmsold.sampler import MMSOLD
from mmsold.score import SCORE_ESTIMATORS, ScoreEstimator, make_score_estimator
from test_neighbors import clustered, curved


# --- the earlier implementation, written out (NumPy paths), as the bit-identity oracle ------------

def _old_sq_dists(A, B, B_sq):
    D = np.einsum("ij,ij->i", A, A)[:, None] - 2.0 * (A @ B.T) + B_sq[None, :]
    np.maximum(D, 0.0, out=D)
    return D


def _old_knn(X, Y, k):
    "The earlier default search: a k-d tree up to d = 12, chunked NumPy brute force above."
    if X.shape[1] <= 12:
        d, idx = cKDTree(X).query(Y, k=k, workers=1)
        return (d * d, idx) if k > 1 else ((d * d)[:, None], idx[:, None])
    X_sq = np.einsum("ij,ij->i", X, X)
    D_out = np.empty((len(Y), k)); I_out = np.empty((len(Y), k), dtype=np.intp)
    step = max(1, 2**22 // len(X))
    for s in range(0, len(Y), step):
        sl = slice(s, min(s + step, len(Y)))
        D = _old_sq_dists(Y[sl], X, X_sq)
        idx = np.argpartition(D, k - 1, axis=1)[:, :k] if k < D.shape[1] else np.broadcast_to(np.arange(D.shape[1]), D.shape)
        d = np.take_along_axis(D, idx, axis=1); order = np.argsort(d, axis=1)
        D_out[sl] = np.take_along_axis(d, order, axis=1); I_out[sl] = np.take_along_axis(idx, order, axis=1)
    return D_out, I_out


def _old_denoise(Y, X, delta, K):
    M, N = len(Y), len(X)
    inv2 = 1.0 / (2.0 * delta * delta)
    if K is None or K >= N:
        m = np.empty((M, X.shape[1])); lse = np.empty(M)
        X_sq = np.einsum("ij,ij->i", X, X)
        step = max(1, 2**22 // N)
        for s in range(0, M, step):
            sl = slice(s, min(s + step, M))
            A = _old_sq_dists(Y[sl], X, X_sq)
            A *= -inv2
            amax = A.max(axis=1, keepdims=True)
            np.subtract(A, amax, out=A); np.exp(A, out=A)
            s_ = A.sum(axis=1)
            m[sl] = (A @ X) / s_[:, None]; lse[sl] = np.log(s_) + amax[:, 0]
        return m, lse
    D, idx = _old_knn(X, Y, K)
    A = -inv2 * D
    amax = A.max(axis=1, keepdims=True)
    W = np.exp(A - amax); s_ = W.sum(axis=1)
    return np.einsum("mk,mkd->md", W, X[idx]) / s_[:, None], np.log(s_) + amax[:, 0]


def _old_smoothed_score(Z, X, delta, sigma, method, n_noise, K, n_quad, rng):
    P, d = Z.shape
    if sigma == 0.0:
        offs, w = np.zeros((P, 1, d)), np.ones(1)
    elif method == "quadrature":
        x, wq = np.polynomial.hermite_e.hermegauss(n_quad); wq = wq / wq.sum()
        nodes = np.stack([g.ravel() for g in np.meshgrid(*([x] * d), indexing="ij")], axis=1)
        w = np.prod(np.stack([g.ravel() for g in np.meshgrid(*([wq] * d), indexing="ij")], axis=1), axis=1)
        offs = np.broadcast_to(sigma * nodes, (P,) + nodes.shape)
    else:
        offs, w = sigma * rng.standard_normal((P, n_noise, d)), np.full(n_noise, 1.0 / n_noise)
    Q = offs.shape[1]
    m, lse = _old_denoise((Z[:, None, :] + offs).reshape(P * Q, d), X, delta, K)
    m_bar = np.einsum("q,pqd->pd", w, m.reshape(P, Q, d)); l_bar = lse.reshape(P, Q) @ w
    s = (m_bar - Z) / (delta * delta)
    N = len(X)
    return s, -(l_bar - (np.log(N) + 0.5 * d * np.log(2 * np.pi * delta * delta)) * w.sum())


@given(seed=st.integers(0, 2**32 - 1), d=st.sampled_from([1, 2, 3, 15]), N=st.integers(2, 120),
       method=st.sampled_from(["mc", "quadrature"]), sigma=st.sampled_from([0.0, 0.05, 0.4]),
       n_noise=st.integers(1, 4), K=st.one_of(st.none(), st.integers(1, 130)), delta=st.floats(0.02, 2.0))
def test_functional_score_is_bit_identical_to_the_earlier_formula(seed, d, N, method, sigma, n_noise, K, delta):
    "Same rng, same arithmetic: the refactored estimators give the earlier smoothed_score's numbers exactly."
    if method == "quadrature" and d > 3:
        method = "mc"
    rng = np.random.default_rng(seed)
    X = clustered(rng, N, d); Z = X[rng.integers(0, N, 9)] + 0.3 * rng.normal(size=(9, d))
    K = None if K is None else min(K, N)
    s, V = smoothed_score(Z, X, delta, sigma, method=method, n_noise=n_noise, n_neighbors=K, n_quad=4,
                          random_state=np.random.default_rng(seed + 1), return_potential=True)
    s_o, V_o = _old_smoothed_score(Z, X, delta, sigma, method, n_noise, K, 4, np.random.default_rng(seed + 1))
    np.testing.assert_array_equal(s, s_o)
    np.testing.assert_array_equal(V, V_o)


@pytest.mark.parametrize("name", ["exact", "mc", "quadrature"])
def test_estimators_draw_as_before_and_own_their_constants(name):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2)); Z = rng.normal(size=(40, 2))
    opts = {"exact": dict(n_noise=3), "mc": dict(n_noise=3, n_neighbors=12, neighbor_search="reference"),
            "quadrature": dict(n_quad=5, n_neighbors=12, neighbor_search="reference")}[name]
    est = make_score_estimator(name, X, 0.2, 0.3, **opts)
    assert est.inv2 == 1 / (2 * 0.2**2) and np.isclose(est.log_norm, np.log(300) + np.log(2 * np.pi * 0.04))
    s, V = est(Z, np.random.default_rng(5))
    method = "quadrature" if name == "quadrature" else "mc"
    s_o, V_o = _old_smoothed_score(Z, X, 0.2, 0.3, method, 3, opts.get("n_neighbors"), 5, np.random.default_rng(5))
    np.testing.assert_array_equal(s, s_o); np.testing.assert_array_equal(V, V_o)
    with pytest.raises(TypeError, match="its options are"):
        make_score_estimator(name, X, 0.2, 0.3, n_remainder=3)


def test_estimators_reset_their_search_and_pickle_without_caches():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2000, 2)); Z = rng.normal(size=(200, 2))
    est = make_score_estimator("mc", X, 0.1, 0.1, n_noise=4, n_neighbors=16, neighbor_search="verlet")
    size0 = len(pickle.dumps(est))
    est(Z, np.random.default_rng(0))
    assert est.search_.stats_["queries"] == 800
    assert len(pickle.dumps(est)) <= size0 + 2000
    est.reset()
    assert est.search_.stats_["queries"] == 0 and est.search_._Z is None
    assert set(SCORE_ESTIMATORS) >= {"exact", "mc", "quadrature"}
    assert all(issubclass(c, ScoreEstimator) for c in SCORE_ESTIMATORS.values())


def test_pickle_of_a_fitted_model_does_not_grow_with_the_cell_lists():
    "Issue 12, defect 9: 6.4 MB for 2,000 points after sample built the cell-list cache."
    X = checkerboard(2000, random_state=0)
    m = MMSOLD(n_steps=3, random_state=0).fit(X)
    before = len(pickle.dumps(m))
    m.sample(200)
    assert len(pickle.dumps(m)) <= before + 2000


def test_seeded_checkerboard_run_is_reproducible_across_pickling():
    X = checkerboard(500, random_state=0)
    m = MMSOLD(random_state=0, n_steps=20).fit(X)
    a = m.sample(300)
    b = pickle.loads(pickle.dumps(m)).sample(300)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("search", ["auto", "kdtree", "grid", "brute", "verlet"])
@given(seed=st.integers(0, 2**32 - 1), sigma=st.sampled_from([0.0, 0.1, 0.5]), L=st.integers(1, 4))
def test_exact_searches_give_reference_scores(search, seed, sigma, L):
    "Score relative error <= 1e-6 against smoothed_score on the plain k-d tree (the issue's accuracy bar)."
    rng = np.random.default_rng(seed)
    d = 2 if search == "grid" else int(rng.integers(1, 4))
    X = clustered(rng, 300, d)
    Z = X[rng.integers(0, 300, 40)] + 0.2 * rng.normal(size=(40, d))
    kw = dict(n_noise=L, n_neighbors=12, random_state=seed)
    s_ref = smoothed_score(Z, X, 0.2, sigma, neighbors=KDTreeNeighbors(X), **kw)
    s = smoothed_score(Z, X, 0.2, sigma, neighbors=make_neighbors(X, search), **kw)
    assert np.abs(s - s_ref).max() <= 1e-6 * np.abs(s_ref).max()


@pytest.mark.parametrize("search", ["auto", "verlet", "brute"])
def test_sampler_with_exact_search_matches_reference(search):
    X = clustered(np.random.default_rng(3), 400, 2)
    kw = dict(delta=0.2, sigma=0.2, n_steps=10, n_neighbors=8, n_noise=3, random_state=4)
    Z_ref = MMSOLD(neighbor_search="reference", **kw).fit(X).sample(50)
    Z = MMSOLD(neighbor_search=search, **kw).fit(X).sample(50)
    np.testing.assert_allclose(Z, Z_ref, atol=1e-8 * np.abs(Z_ref).max())



class _PlainSearch:
    "Hides the compiled `denoise`/`smoothed` of a search: smoothed_score then takes the NumPy path."

    def __init__(self, nn):
        self.nn = nn

    def __call__(self, Y, k):
        return self.nn(Y, k)


@pytest.mark.parametrize("search", ["grid", "grid-tree-fallback", "brute", "verlet", "candidates"])
@given(seed=st.integers(0, 2**32 - 1), method=st.sampled_from(["mc", "quadrature"]), k=st.integers(1, 20))
def test_compiled_smoothing_equals_numpy_sums(search, seed, method, k):
    "Score and potential through the compiled `smoothed` equal the NumPy sums over the same neighbours."
    rng = np.random.default_rng(seed)
    X = clustered(rng, 200, 2)
    Z = X[rng.integers(0, 200, 30)] + rng.uniform(0.1, 3.0) * rng.normal(size=(30, 2))  # some land off the grid
    nn = make_neighbors(X, search.split("-")[0])
    if search == "grid-tree-fallback":
        nn.scan_max = 0  # queries without a list go to the k-d tree, and are added in afterwards
    kw = dict(method=method, n_noise=3, n_quad=4, n_neighbors=k, random_state=seed, return_potential=True)
    s, V = smoothed_score(Z, X, 0.2, 0.3, neighbors=nn, **kw)
    s_np, V_np = smoothed_score(Z, X, 0.2, 0.3, neighbors=_PlainSearch(nn), **kw)
    np.testing.assert_allclose(s, s_np, rtol=1e-10, atol=1e-10 * np.abs(s_np).max())
    np.testing.assert_allclose(V, V_np, rtol=1e-12, atol=1e-12)



@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_candidate_lists_covering_the_data_are_exact(dtype):
    "With lists of all N points the two-stage estimator is the exact K-nearest estimator."
    rng = np.random.default_rng(2)
    X = curved(300, 20, random_state=1)
    Z = X[:25] + 0.3 * rng.normal(size=(25, 20))
    kw = dict(n_noise=6, n_neighbors=9, random_state=3, return_potential=True)
    s_ref, V_ref = smoothed_score(Z, X, 0.8, 0.4, neighbors=BruteForceNeighbors(X), **kw)
    s, V = smoothed_score(Z, X, 0.8, 0.4, neighbors=CandidateNeighbors(X, n_candidates=300, dtype=dtype), **kw)
    np.testing.assert_allclose(s, s_ref, rtol=1e-9, atol=1e-9 * np.abs(s_ref).max())
    np.testing.assert_allclose(V, V_ref, rtol=1e-12)




def test_reference_search_takes_n_jobs_through_the_sampler():
    "Issue 12, defect 7: neighbor_search='reference' with search_params={'n_jobs': 2} raised a raw TypeError."
    X = checkerboard(300, random_state=1)
    kw = dict(n_steps=3, n_neighbors=8, random_state=0, neighbor_search="reference")
    a = MMSOLD(search_params={"n_jobs": 2}, **kw).fit(X).sample(40)
    b = MMSOLD(**kw).fit(X).sample(40)
    np.testing.assert_array_equal(a, b)
