"""Neighbour searches (mmsold.neighbors): the protocol, the registry, and every search against the
brute-force oracle.

Exact searches must return the oracle's neighbours (indices equal; random continuous data has no
ties); fused `denoise` / `smoothed` must equal the protocol's default implementations over the same
answers; Verlet lists must stay exact under arbitrary particle moves; approximate searches are checked
for recall; memory stays bounded by chunking; caches are not pickled; thread settings are restored."""
import pickle
import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmsold.core import sq_dists
from mmsold.neighbors import (NEIGHBOR_SEARCHES, SEARCHES, AnchoredSearch, BruteForceNeighbors, BruteNeighbors,
                              CandidateNeighbors, GridNeighbors, KDTreeNeighbors, NeighborSearch, VerletNeighbors,
                              default_neighbors, exact_neighbors, make_neighbors)
from mmsold.neighbors import _numba
from mmsold.neighbors.candidates import _kth, _select_rows
from mmsold.potential import smoothed_score


def curved(n, D=100, m=10, manifold_seed=0, random_state=None):
    "Points near a smooth m-dimensional manifold in R^D (random Fourier features, rotated), plus noise 0.05."
    g = np.random.default_rng(manifold_seed)
    W = g.normal(size=(m, D)) * (1.5 / np.sqrt(m)); b = g.uniform(0, 2 * np.pi, D)
    Q, _ = np.linalg.qr(g.normal(size=(D, D)))
    rng = np.random.default_rng(random_state)
    return np.sqrt(2.0) * np.sin(rng.standard_normal((n, m)) @ W + b) @ Q.T + 0.05 * rng.standard_normal((n, D))


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
    inv2 = 1 / (2 * delta**2)
    m, l = GridNeighbors(X).denoise(Y, k, inv2)
    m_r, l_r = KDTreeNeighbors(X).denoise(Y, k, inv2)
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
    X = curved(3000, 40, random_state=0)
    Z = X[:100] + 0.05 * rng.normal(size=(100, 40))
    Y = (Z[:, None, :] + 0.05 * rng.normal(size=(100, 4, 40))).reshape(-1, 40)
    vn = make_neighbors(X, "candidates"); vn.anchor(Z)
    _, I = vn(Y, 10)
    _, I_r = KDTreeNeighbors(X)(Y, 10)
    assert np.mean([len(np.intersect1d(a, b)) for a, b in zip(I, I_r)]) / 10 > 0.95


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
    with pytest.raises(TypeError, match="its options are"):
        make_neighbors(X, "grid", n_candidates=3)
    with pytest.raises(TypeError, match=r"its options are \['n_jobs'\]"):
        make_neighbors(X, "auto", cell_size=0.1)
    with pytest.raises(ValueError, match="shape"):
        BruteForceNeighbors(X)(np.zeros((3, 3)), 2)
    assert set(SEARCHES) >= {"auto", "reference", "verlet", "candidates", "faiss"}
    assert isinstance(exact_neighbors(X), GridNeighbors) and default_neighbors(X) is not None


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


def test_candidate_lists_recall_and_threads():
    "Default lists (M = 8K) find nearly all exact neighbours at small sigma; threads do not change results."
    rng = np.random.default_rng(4)
    X = curved(4000, 60, random_state=0)
    Z = X[:80] + 0.02 * rng.normal(size=(80, 60))
    offs = 0.1 * rng.normal(size=(80, 5, 60)); w = np.full(5, 0.2)
    a = CandidateNeighbors(X, n_jobs=1).smoothed(Z, offs, w, 12, 0.5)
    b = CandidateNeighbors(X, n_jobs=2).smoothed(Z, offs, w, 12, 0.5)
    np.testing.assert_array_equal(a[0], b[0]); np.testing.assert_array_equal(a[1], b[1])
    cn = CandidateNeighbors(X); cn.anchor(Z)
    Y = (Z[:, None] + offs).reshape(-1, 60)
    _, I = cn(Y, 12); _, I_ref = BruteForceNeighbors(X)(Y, 12)
    assert np.mean([len(np.intersect1d(p, q)) for p, q in zip(I, I_ref)]) / 12 > 0.95


# --- the protocol and the registry -------------------------------------------------------------

class FirstCoordinate(NeighborSearch):
    "A tiny search, to show that a class and one registry line are all a new search needs."
    exact = False

    def __init__(self, X, *, n_jobs=1):
        super().__init__(X, n_jobs=n_jobs)

    def query(self, Y, k):
        I = np.argsort(np.abs(Y[:, :1] - self.X[:, 0][None, :]), axis=1, kind="stable")[:, :k]
        return ((Y[:, None, :] - self.X[I]) ** 2).sum(-1), I


def test_a_new_search_is_one_class_and_one_registry_line():
    NEIGHBOR_SEARCHES["first"] = FirstCoordinate
    try:
        X = np.sort(np.random.default_rng(0).normal(size=(50, 1)), axis=0)
        nn = make_neighbors(X, "first")
        D, I = nn(X[:4], 3)
        np.testing.assert_array_equal(I[:, 0], np.arange(4))
        with pytest.raises(TypeError, match=r"its options are \['n_jobs'\]"):
            make_neighbors(X, "first", leaf_size=2)
        # the estimators take it by name too, and the defaults give it denoise and smoothed
        s = smoothed_score(X[:5] + 0.01, X, 0.1, 0.05, n_noise=2, n_neighbors=50, random_state=0)
        s_k = smoothed_score(X[:5] + 0.01, X, 0.1, 0.05, n_noise=2, n_neighbors=49, random_state=0, neighbors=nn)
        assert np.abs(s - s_k).max() < 1e-6 * np.abs(s).max()
    finally:
        del NEIGHBOR_SEARCHES["first"]


EXACT = [n for n, c in NEIGHBOR_SEARCHES.items() if c.exact and n != "faiss"]


def test_registry_and_auto_rule():
    assert set(SEARCHES) == {"auto"} | set(NEIGHBOR_SEARCHES)
    assert set(EXACT) >= {"reference", "kdtree", "brute", "grid", "verlet"}
    rng = np.random.default_rng(0)
    assert isinstance(make_neighbors(rng.normal(size=(30, 2))), GridNeighbors)
    assert isinstance(make_neighbors(rng.normal(size=(30, 5))), KDTreeNeighbors)
    assert isinstance(make_neighbors(rng.normal(size=(30, 20))), BruteForceNeighbors)


@pytest.mark.parametrize("name", [n for n in NEIGHBOR_SEARCHES if n != "faiss"])
def test_every_search_takes_n_jobs_and_refuses_unknown_options(name):
    "Issue 12, defect 7: 'reference' with n_jobs used to raise a raw TypeError."
    X = np.random.default_rng(1).normal(size=(80, 2))
    nn = make_neighbors(X, name, n_jobs=2)
    assert nn.n_jobs == 2
    if isinstance(nn, AnchoredSearch):
        nn.anchor(X[:10])
    D, I = nn(X[:10] + 0.01, 3)
    assert D.shape == I.shape == (10, 3)
    with pytest.raises(TypeError, match="its options are"):
        make_neighbors(X, name, bogus=1)
    with pytest.raises(ValueError, match="n_jobs"):
        make_neighbors(X, name, n_jobs=0)


@pytest.mark.parametrize("name", EXACT)
@given(pb=knn_problem(max_d=3, max_N=150))
def test_every_exact_search_agrees_with_the_brute_force_oracle(name, pb):
    "Oracle: the full squared-distance matrix, sorted (indices; distances to rounding)."
    X, Y, k = pb
    nn = make_neighbors(X, name)
    if isinstance(nn, AnchoredSearch):  # queries come in blocks per particle: one particle per query here
        nn.anchor(Y)
    D_full = sq_dists(Y, X)
    order = np.argsort(D_full, axis=1, kind="stable")[:, :k]
    D, I = nn(Y, k)
    np.testing.assert_allclose(D, np.take_along_axis(D_full, order, 1), rtol=1e-9,
                               atol=1e-9 * (1 + np.abs(D_full).max()))
    # indices may differ only where distances tie to rounding
    same = I == order
    assert same.all() or np.allclose(np.take_along_axis(D_full, I, 1)[~same], np.take_along_axis(D_full, order, 1)[~same],
                                     rtol=1e-9, atol=1e-9 * (1 + np.abs(D_full).max()))


@pytest.mark.parametrize("name", ["grid", "grid-tree", "brute", "verlet", "candidates", "kdtree"])
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 15), Q=st.integers(1, 4))
def test_fused_smoothed_equals_the_default_implementation(name, seed, k, Q):
    "smoothed / denoise of a search equal NeighborSearch's defaults over the same search's answers."
    rng = np.random.default_rng(seed)
    X = clustered(rng, 150, 2)
    Z = X[rng.integers(0, 150, 25)] + rng.uniform(0.1, 3.0) * rng.normal(size=(25, 2))  # some land off the grid
    offs = rng.uniform(0.01, 1.0) * rng.normal(size=(25, Q, 2)); w = rng.dirichlet(np.ones(Q))
    inv2 = 1 / (2 * rng.uniform(0.05, 1.0) ** 2)
    nn = make_neighbors(X, name.split("-")[0])
    if name == "grid-tree":
        nn.scan_max = 0
    nn.anchor(Z)
    m_bar, l_bar = nn.smoothed(Z, offs, w, k, inv2)
    m_ref, l_ref = NeighborSearch.smoothed(nn, Z, offs, w, k, inv2)
    scale = 1 + np.abs(X).max()
    np.testing.assert_allclose(m_bar, m_ref, rtol=1e-9, atol=1e-9 * scale)
    np.testing.assert_allclose(l_bar, l_ref, rtol=1e-10, atol=1e-10 * (1 + np.abs(l_ref).max()))
    Y = (Z[:, None] + offs).reshape(-1, 2)
    m, l = nn.denoise(Y, k, inv2)
    m_r, l_r = NeighborSearch.denoise(nn, Y, k, inv2)
    np.testing.assert_allclose(m, m_r, rtol=1e-9, atol=1e-9 * scale)
    np.testing.assert_allclose(l, l_r, rtol=1e-10, atol=1e-10 * (1 + np.abs(l_r).max()))


def test_caches_are_not_pickled():
    "Issue 12, defect 9: a pickle holds the data and parameters, not the cell lists, trees or Verlet lists."
    rng = np.random.default_rng(2)
    X = rng.normal(size=(2000, 2)); Z = rng.normal(size=(300, 2)); offs = 0.1 * rng.normal(size=(300, 4, 2))
    for name in ("grid", "verlet", "kdtree", "reference", "candidates"):
        nn = make_neighbors(X, name)
        before = len(pickle.dumps(nn))
        nn.anchor(Z); nn.smoothed(Z, offs, np.full(4, 0.25), 16, 10.0)
        after = pickle.dumps(nn)
        assert len(after) <= before + 2000, (name, before, len(after))
        back = pickle.loads(after)
        back.anchor(Z)
        np.testing.assert_array_equal(back.smoothed(Z, offs, np.full(4, 0.25), 16, 10.0)[0],
                                      nn.smoothed(Z, offs, np.full(4, 0.25), 16, 10.0)[0])


def test_thread_contexts_restore_the_settings():
    import numba
    from threadpoolctl import threadpool_info
    blas = lambda: [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    n0, b0 = numba.get_num_threads(), blas()
    X = np.random.default_rng(3).normal(size=(300, 20))
    for n_jobs in (1, 2, -1):
        for name in ("grid", "brute", "candidates"):
            Xs = X[:, :2] if name == "grid" else X
            nn = make_neighbors(Xs, name, n_jobs=n_jobs)
            nn.anchor(Xs[:20]); nn(Xs[:20], 4)
            nn.smoothed(Xs[:20], np.zeros((20, 1, Xs.shape[1])), np.ones(1), 4, 1.0)
            assert numba.get_num_threads() == n0 and blas() == b0
    with pytest.raises(KeyError):
        with _numba.numba_threads(1), _numba.blas_threads(1):
            raise KeyError
    assert numba.get_num_threads() == n0 and blas() == b0
