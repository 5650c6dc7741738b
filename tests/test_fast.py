"""Fast neighbour searches (mmsold.neighbors) against the reference k-d tree path (issue 7).

Exact searches must return the reference's neighbours (indices equal; random continuous data has no
ties) and scores within 1e-6 relative; Verlet lists must stay exact under arbitrary particle moves;
approximate searches are checked for recall; memory stays bounded by chunking."""
import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmsold.neighbors import (SEARCHES, BruteForceNeighbors, CandidateNeighbors, GridNeighbors, VerletNeighbors,
                              _kth, _select_rows, exact_neighbors, latent_manifold, make_neighbors)
from mmsold.potential import KDTreeNeighbors, default_neighbors, smoothed_score
from mmsold.sampler import MMSOLD


def clustered(rng, N, d):
    "Data with clusters of very different widths and empty space between them (hard for fixed lists)."
    n_cl = rng.integers(1, 5)
    centres = rng.normal(size=(n_cl, d)) * rng.uniform(0.5, 5)
    widths = 10.0 ** rng.uniform(-2, 0, n_cl)
    lab = rng.integers(0, n_cl, N)
    return centres[lab] + widths[lab, None] * rng.normal(size=(N, d))


@st.composite
def knn_problem(draw, max_d=3, max_N=300):
    d = draw(st.integers(1, max_d))
    N = draw(st.integers(2, max_N))
    k = draw(st.integers(1, min(N, 40)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = clustered(rng, N, d)
    scale = np.abs(X).max() + 1
    Y = np.r_[X[rng.integers(0, N, 60)] + 0.1 * rng.normal(size=(60, d)),   # near the data
              rng.uniform(-1.5, 1.5, size=(60, d)) * scale,                    # anywhere, incl. off the grid
              rng.normal(size=(5, d)) * 50 * scale]                            # far away
    return X, Y, k


def assert_same_neighbors(got, ref):
    np.testing.assert_array_equal(got[1], ref[1])
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-10, atol=1e-12 * (1 + np.abs(ref[0]).max()))


@given(knn_problem())
def test_cell_lists_are_exact(pb):
    X, Y, k = pb
    assert_same_neighbors(GridNeighbors(X)(Y, k), KDTreeNeighbors(X)(Y, k))


@given(knn_problem(max_d=3), st.floats(0.05, 3.0))
def test_cell_lists_fused_softmax_matches_reference(pb, delta):
    X, Y, k = pb
    from mmsold.potential import denoise
    m, l = GridNeighbors(X).denoise(Y, k, delta)
    m_r, l_r = denoise(Y, X, delta, k, KDTreeNeighbors(X))
    np.testing.assert_allclose(m, m_r, rtol=1e-9, atol=1e-9 * (1 + np.abs(X).max()))
    np.testing.assert_allclose(l, l_r, rtol=1e-9, atol=1e-9)


@given(knn_problem(max_d=40, max_N=200), st.sampled_from([2**8, 2**12, 2**22]))
def test_chunked_brute_force_is_exact(pb, max_elements):
    X, Y, k = pb
    assert_same_neighbors(BruteForceNeighbors(X, max_elements=max_elements)(Y, k), KDTreeNeighbors(X)(Y, k))


@given(knn_problem(max_d=40, max_N=200))
def test_float32_brute_force_recall(pb):
    X, Y, k = pb
    D, I = BruteForceNeighbors(X, dtype=np.float32)(Y, k)
    D_r, I_r = KDTreeNeighbors(X)(Y, k)
    recall = np.mean([len(np.intersect1d(a, b)) for a, b in zip(I, I_r)]) / k
    assert recall > 0.98
    # the distances handed on are exact float64 distances of the returned points, sorted
    np.testing.assert_allclose(D, ((Y[:, None, :] - X[I]) ** 2).sum(-1), rtol=1e-12, atol=1e-12)
    assert (np.diff(D, axis=1) >= 0).all()


@st.composite
def verlet_run(draw, max_d=5):
    d = draw(st.integers(1, max_d))
    N = draw(st.integers(2, 250))
    P = draw(st.integers(1, 30))
    Q = draw(st.integers(1, 5))
    k = draw(st.integers(1, min(N, 20)))
    M = draw(st.one_of(st.none(), st.integers(1, N + 5)))
    skin = draw(st.one_of(st.none(), st.floats(0.0, 2.0)))
    sigma = draw(st.sampled_from([0.0, 0.01, 0.1, 1.0]))
    moves = draw(st.lists(st.sampled_from([0.0, 0.001, 0.05, 0.5, 5.0]), min_size=1, max_size=6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return d, N, P, Q, k, M, skin, sigma, moves, rng


@given(verlet_run())
def test_verlet_lists_exact_under_random_moves(case):
    "Whatever the skin, list size or move sizes (including jumps far beyond the skin), results equal the reference."
    d, N, P, Q, k, M, skin, sigma, moves, rng = case
    X = clustered(rng, N, d)
    vn = VerletNeighbors(X, n_candidates=M, skin=skin)
    ref = KDTreeNeighbors(X)
    Z = X[rng.integers(0, N, P)] + 0.1 * rng.normal(size=(P, d))
    for mv in moves:
        Z = Z + mv * rng.normal(size=Z.shape)
        Y = (Z[:, None, :] + sigma * rng.normal(size=(P, Q, d))).reshape(P * Q, d)
        vn.anchor(Z)
        assert_same_neighbors(vn(Y, k), ref(Y, k))
    assert vn.stats_["queries"] == P * Q * len(moves)


@given(verlet_run(max_d=1).map(lambda c: (30,) + c[1:]))
def test_verlet_lists_exact_in_high_dimension(case):
    "d = 30 runs the batched-BLAS path with cached candidate coordinates."
    d, N, P, Q, k, M, skin, sigma, moves, rng = case
    X = clustered(rng, N, d)
    for dtype in (np.float64, np.float32):
        vn = VerletNeighbors(X, n_candidates=M, skin=skin, dtype=dtype)
        Z = X[rng.integers(0, N, P)] + 0.1 * rng.normal(size=(P, d))
        for mv in moves[:3]:
            Z = Z + mv * rng.normal(size=Z.shape)
            Y = (Z[:, None, :] + sigma * rng.normal(size=(P, Q, d))).reshape(P * Q, d)
            vn.anchor(Z)
            assert_same_neighbors(vn(Y, k), KDTreeNeighbors(X)(Y, k))


def test_verlet_lists_certify_small_moves():
    "The refresh rule is not vacuous: with sigma = 0 and small moves almost no query needs the fallback."
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 2))
    vn = VerletNeighbors(X, n_candidates=64)
    Z = rng.normal(size=(200, 2))
    for _ in range(20):
        Z = Z + 0.005 * rng.normal(size=Z.shape)
        vn.anchor(Z)
        vn(Z, 8)
    assert vn.stats_["fallbacks"] <= 0.01 * vn.stats_["queries"]
    assert vn.stats_["rebuilds"] < 200 * 20 / 4  # lists are reused across steps


def test_candidates_mode_is_approximate_but_close():
    rng = np.random.default_rng(1)
    X = latent_manifold(3000, n_features=40, random_state=0)
    Z = X[:100] + 0.05 * rng.normal(size=(100, 40))
    Y = (Z[:, None, :] + 0.05 * rng.normal(size=(100, 4, 40))).reshape(-1, 40)
    vn = make_neighbors(X, "candidates"); vn.anchor(Z)
    _, I = vn(Y, 10)
    _, I_r = KDTreeNeighbors(X)(Y, 10)
    assert np.mean([len(np.intersect1d(a, b)) for a, b in zip(I, I_r)]) / 10 > 0.95


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


def test_threads_do_not_change_results():
    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(500, 2)), rng.normal(size=(3000, 2))
    for search in ("grid", "brute"):
        a = make_neighbors(X, search, n_jobs=1)(Y, 7)
        b = make_neighbors(X, search, n_jobs=2)(Y, 7)
        np.testing.assert_array_equal(a[1], b[1]); np.testing.assert_array_equal(a[0], b[0])


def test_brute_force_memory_is_bounded_by_chunking():
    "Q x N = 4000 x 5000 distances would take 160 MB; chunked at 2**18 elements the peak stays far below."
    rng = np.random.default_rng(6)
    X, Y = rng.normal(size=(5000, 8)), rng.normal(size=(4000, 8))
    nn = BruteForceNeighbors(X, max_elements=2**18)
    nn(Y[:10], 5)
    tracemalloc.start()
    nn(Y, 5)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20e6, peak


def test_latent_manifold_shares_its_manifold_across_draws():
    A = latent_manifold(4000, random_state=0)
    B = latent_manifold(300, random_state=1)                     # same manifold, new points
    C = latent_manifold(300, random_state=1, manifold_seed=9)     # another manifold
    assert A.shape == (4000, 100) and np.array_equal(B, latent_manifold(300, random_state=1))
    dB = np.median(BruteForceNeighbors(A)(B, 1)[0]); dC = np.median(BruteForceNeighbors(A)(C, 1)[0])
    assert dB < 0.5 * dC


def test_bad_input_is_refused():
    X = np.random.default_rng(0).normal(size=(50, 2))
    with pytest.raises(ValueError, match="neighbor_search must be one of"):
        make_neighbors(X, "annoy")
    with pytest.raises(ValueError, match="d <= 3"):
        GridNeighbors(np.zeros((10, 4)))
    with pytest.raises(ValueError, match="k must be"):
        GridNeighbors(X)(X, 51)
    with pytest.raises(ValueError, match="anchor"):
        VerletNeighbors(X)(X, 3)
    with pytest.raises(ValueError, match="anchor"):
        CandidateNeighbors(X)(X, 3)
    with pytest.raises(ValueError, match="dtype"):
        CandidateNeighbors(X, dtype=np.int32)
    with pytest.raises(ValueError, match="n_jobs"):
        GridNeighbors(X, n_jobs=0)
    with pytest.raises(ValueError, match="shape"):
        BruteForceNeighbors(X)(np.zeros((3, 3)), 2)
    assert set(SEARCHES) >= {"auto", "reference", "verlet", "candidates", "faiss"}
    assert isinstance(exact_neighbors(X), GridNeighbors) and default_neighbors(X) is not None


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


@given(st.lists(st.integers(-5, 5), min_size=1, max_size=60).map(lambda v: np.array(v, float)), st.data())
def test_quickselect_returns_the_order_statistic(v, data):
    "_kth(v, n, k) is the k-th smallest value (0-based), also with many ties."
    k = data.draw(st.integers(0, len(v) - 1))
    assert _kth(v.copy(), len(v), k) == np.sort(v)[k]


@given(seed=st.integers(0, 2**32 - 1), N=st.integers(1, 600), ties=st.booleans(), data=st.data())
def test_row_selection_lists_the_m_smallest(seed, N, ties, data):
    "Every list holds M distinct indices whose values are exactly the M smallest of the row (ties too)."
    rng = np.random.default_rng(seed)
    M = data.draw(st.integers(1, N))
    D = rng.integers(0, 4, size=(7, N)).astype(float) if ties else rng.normal(size=(7, N))
    X_sq = rng.integers(0, 3, size=N).astype(float) if ties else rng.normal(size=N)
    lists = np.empty((7, M), dtype=np.int64)
    _select_rows(D, X_sq, M, np.ascontiguousarray(D[:, ::16]), np.ascontiguousarray(X_sq[::16]), lists)
    v = X_sq - 2 * D
    for r in range(7):
        assert len(set(lists[r])) == M
        np.testing.assert_array_equal(np.sort(v[r, lists[r]]), np.sort(v[r])[:M])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_candidate_lists_covering_the_data_are_exact(dtype):
    "With lists of all N points the two-stage estimator is the exact K-nearest estimator."
    rng = np.random.default_rng(2)
    X = latent_manifold(300, n_features=20, random_state=1)
    Z = X[:25] + 0.3 * rng.normal(size=(25, 20))
    kw = dict(n_noise=6, n_neighbors=9, random_state=3, return_potential=True)
    s_ref, V_ref = smoothed_score(Z, X, 0.8, 0.4, neighbors=BruteForceNeighbors(X), **kw)
    s, V = smoothed_score(Z, X, 0.8, 0.4, neighbors=CandidateNeighbors(X, n_candidates=300, dtype=dtype), **kw)
    np.testing.assert_allclose(s, s_ref, rtol=1e-9, atol=1e-9 * np.abs(s_ref).max())
    np.testing.assert_allclose(V, V_ref, rtol=1e-12)


def test_candidate_lists_recall_and_threads():
    "Default lists (M = 8K) find nearly all exact neighbours at small sigma; threads do not change results."
    rng = np.random.default_rng(4)
    X = latent_manifold(4000, n_features=60, random_state=0)
    Z = X[:80] + 0.02 * rng.normal(size=(80, 60))
    offs = 0.1 * rng.normal(size=(80, 5, 60)); w = np.full(5, 0.2)
    a = CandidateNeighbors(X, n_jobs=1).smoothed(Z, offs, w, 12, 1.0)
    b = CandidateNeighbors(X, n_jobs=2).smoothed(Z, offs, w, 12, 1.0)
    np.testing.assert_array_equal(a[0], b[0]); np.testing.assert_array_equal(a[1], b[1])
    cn = CandidateNeighbors(X); cn.anchor(Z)
    Y = (Z[:, None] + offs).reshape(-1, 60)
    _, I = cn(Y, 12); _, I_ref = BruteForceNeighbors(X)(Y, 12)
    assert np.mean([len(np.intersect1d(p, q)) for p, q in zip(I, I_ref)]) / 12 > 0.95
