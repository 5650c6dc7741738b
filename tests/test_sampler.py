"""MM-SOLD: exact moments at every step, reproducibility, rank deficiency, and bad input."""
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmsold.datasets import checkerboard, load_digits_class
from sklearn.exceptions import NotFittedError

from mmsold.sampler import MMSOLD, NonFiniteParticlesError


@st.composite
def data_and_particles(draw):
    d = draw(st.integers(1, 10))
    r = draw(st.integers(1, d))                     # rank of the data's covariance
    N = draw(st.integers(max(2, r + 1), 60))
    P = draw(st.integers(r + 1, r + 25))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, r)) @ rng.normal(size=(r, d)) * rng.uniform(0.2, 5) + rng.normal(size=d) * 3
    return X, P, seed


@given(data_and_particles(), st.sampled_from(["lm", "em"]), st.sampled_from([None, 3]), st.booleans())
def test_exact_moments_at_every_step(case, integrator, K, init_data):
    X, P, seed = case
    est = MMSOLD(delta=0.3, sigma=0.2, n_steps=15, n_neighbors=K, n_noise=2, integrator=integrator,
                 init="data" if init_data else "gaussian", random_state=seed).fit(X)
    Z, tr = est.sample(P, return_trace=True)
    assert Z.shape == (P, X.shape[1]) and np.isfinite(Z).all()
    assert tr["mean_error"].max() <= 1e-10 and tr["cov_error"].max() <= 1e-10
    # independent recomputation of the returned cloud's moments
    scale = np.sqrt(np.linalg.eigvalsh(est.covariance_)[-1])
    assert np.abs(Z.mean(0) - X.mean(0)).max() <= 1e-10 * scale
    C = np.cov(Z.T, bias=True).reshape(X.shape[1], -1); S = np.cov(X.T, bias=True).reshape(X.shape[1], -1)
    assert np.linalg.norm(C - S) <= 1e-10 * np.linalg.norm(S)
    # particles stay in the data's affine hull
    Lp = np.linalg.pinv(est.factor_)
    np.testing.assert_allclose((Z - est.mean_) @ Lp.T @ est.factor_.T, Z - est.mean_, atol=1e-9 * (1 + scale))


def test_same_seed_same_output_and_different_seed_differs():
    X = checkerboard(300, random_state=0)
    kw = dict(delta=0.3, sigma=0.3, n_steps=30, n_neighbors=8, n_noise=2)
    a = MMSOLD(**kw, random_state=4).fit(X).sample(100)
    b = MMSOLD(**kw, random_state=4).fit(X).sample(100)
    c = MMSOLD(**kw).fit(X).sample(100, random_state=4)
    d = MMSOLD(**kw, random_state=5).fit(X).sample(100)
    np.testing.assert_array_equal(a, b); np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, d)


def test_digit_eight_never_varying_pixels_stay_fixed():
    X = load_digits_class(8)
    const = X.std(0) == 0
    assert const.sum() > 0
    est = MMSOLD(delta=2.0, sigma=1.0, n_steps=20, n_neighbors=20, random_state=0).fit(X)
    Z, tr = est.sample(200, return_trace=True)
    assert est.rank_ <= 64 - const.sum()
    np.testing.assert_allclose(Z[:, const], np.broadcast_to(X[0, const], (200, const.sum())), atol=1e-9)
    assert tr["cov_error"].max() <= 1e-10 and tr["mean_error"].max() <= 1e-10


def test_naive_sold_has_no_moment_control_but_same_interface():
    X = checkerboard(400, random_state=1)
    Z = MMSOLD(delta=0.3, sigma=0.3, n_steps=50, n_neighbors=8, moment_match=False, random_state=0).fit(X).sample(3)
    assert Z.shape == (3, 2)          # fewer particles than rank + 1 is fine without the constraint


def test_quadrature_smoothing_is_deterministic_given_seed_and_matches_moments():
    X = checkerboard(200, random_state=2)
    est = MMSOLD(delta=0.3, sigma=0.4, n_steps=10, n_neighbors=None, score_estimator="quadrature", n_quad=4,
                 random_state=0).fit(X)
    Z, tr = est.sample(50, return_trace=True)
    assert tr["cov_error"].max() <= 1e-10


X_OK = np.random.default_rng(0).normal(size=(30, 2))


@pytest.mark.parametrize("kwargs, name", [
    (dict(delta=0.0), "delta"), (dict(delta=-1.0), "delta"), (dict(delta=np.nan), "delta"),
    (dict(sigma=-0.1), "sigma"), (dict(step_size=0.0), "step_size"), (dict(step_size="big"), "step_size"),
    (dict(n_steps=0), "n_steps"), (dict(n_steps=2.5), "n_steps"), (dict(n_neighbors=0), "n_neighbors"),
    (dict(n_noise=0), "n_noise"), (dict(n_remainder=-1), "n_remainder"), (dict(integrator="rk4"), "integrator"),
    (dict(score_estimator="kde"), "score_estimator"), (dict(init="zeros"), "init"),
    (dict(target_covariance="full"), "target_covariance"), (dict(moment_match="yes"), "moment_match"),
    (dict(neighbor_search="annoy"), "neighbor_search"), (dict(search_params=3), "search_params"),
    (dict(random_state="seed"), "random_state"),
])
def test_bad_parameters_rejected_at_fit(kwargs, name):
    # scikit-learn's InvalidParameterError is both a ValueError and a TypeError
    with pytest.raises(ValueError, match=f"The '{name}' parameter of MMSOLD must be"):
        MMSOLD(**kwargs).fit(X_OK)


@pytest.mark.parametrize("X, exc, msg", [
    (np.array([[0.0, np.nan], [1.0, 2.0], [3.0, 1.0]]), ValueError, "non-finite"),
    (np.array([[0.0, np.inf], [1.0, 2.0], [3.0, 1.0]]), ValueError, "non-finite"),
    (np.arange(5.0), ValueError, "2D"),
    (np.zeros((3, 2, 2)), ValueError, "2D"),
    (np.array([[1.0, 2.0]]), ValueError, "at least 2"),
    (np.array([["a", "b"], ["c", "d"]]), TypeError, "non-numeric"),
    (np.ones((5, 2)), ValueError, "zero covariance"),
])
def test_bad_data_rejected_at_fit(X, exc, msg):
    with pytest.raises(exc, match=msg):
        MMSOLD().fit(X)


def test_sample_checks():
    with pytest.raises(NotFittedError, match="not fitted"):
        MMSOLD().sample(10)
    est = MMSOLD(n_steps=2).fit(X_OK)
    with pytest.raises(ValueError, match=r"rank\(Sigma\*\) \+ 1 = 3"):
        est.sample(2)
    with pytest.raises(TypeError, match="n_samples must be an integer"):
        est.sample(10.0)
    with pytest.raises(ValueError, match="score_estimator='quadrature' needs d <= 3"):
        MMSOLD(score_estimator="quadrature").fit(np.random.default_rng(0).normal(size=(20, 5)))


def test_step_size_above_bound_warns_and_divergence_stops_with_named_bound():
    X = checkerboard(300, random_state=0)
    with pytest.warns(RuntimeWarning, match="stability bound"):
        est = MMSOLD(delta=0.05, sigma=0.0, step_size=1.0, n_steps=300, n_neighbors=4, moment_match=False,
                     random_state=0).fit(X)
    with pytest.raises(NonFiniteParticlesError, match=r"step_size=1 is at or above the stability bound"):
        est.sample(50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default step size never warns
        MMSOLD(delta=0.05).fit(X)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_trace_moves_show_the_swing_above_the_bound(seed):
    # isolated components (spacing >> delta), one stiff direction: above the explicit bound the constrained
    # cloud swings (successive steps reverse), below it the steps keep their direction (drift dominates)
    X = np.random.default_rng(10 + seed).normal(size=(40, 2)) * [2.0, 0.5]
    out = {}
    for frac in (3.0, 0.1):
        est = MMSOLD(delta=0.05, sigma=0.0, n_steps=40, random_state=seed).fit(X)
        est.set_params(step_size=frac * est.stability_bound_)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Z, tr = est.fit(X).sample(300, return_trace=True)
        assert np.isnan(tr["move_cosine"][0]) and np.all(np.abs(tr["move_cosine"][1:]) <= 1 + 1e-12)
        assert np.all(tr["move"] >= 0) and tr["cov_error"].max() < 1e-10
        out[frac] = np.median(tr["move_cosine"][20:])
    assert out[3.0] < -0.3 < 0.3 < out[0.1]


# ---------------------------------------------------------------- the authors' pull-back and retraction (issue 30)
def _tiny():
    rng = np.random.default_rng(11)
    return rng.normal(size=(30, 2)) @ np.array([[1.0, 0.0], [0.9, 0.4]])


class _FixedScore:
    "A score estimator stub returning a known score s(Z) = -A Z (V = 0): the pull-back is all that is tested."
    def __init__(self, A):
        self.A = A

    def __call__(self, Z, rng=None):
        return -Z @ self.A.T, np.zeros(len(Z))

    def reset(self):
        pass


@pytest.mark.parametrize("moment_match", [True, False])
def test_authors_pullback_reproduces_GZ_LT_and_default_GZ_L(moment_match):
    X = _tiny()
    A = np.array([[2.0, 0.3], [-0.7, 1.0]])
    Y = np.random.default_rng(0).normal(size=(6, 2))
    for pullback in ("paper", "authors"):
        est = MMSOLD(delta=0.3, sigma=0.1, n_steps=2, pullback=pullback, moment_match=moment_match).fit(X)
        est.score_ = _FixedScore(A)
        mu, L = est.mean_, est.factor_
        Lc = np.linalg.cholesky(est.covariance_)
        np.testing.assert_array_equal(L, Lc)                          # full rank: the factor is the Cholesky one
        np.testing.assert_allclose(Lc @ Lc.T, np.cov(X.T, bias=True), atol=1e-13)
        G, _ = est._gradient(mu, L)(Y, None)
        G_Z = (mu + Y @ Lc.T) @ A.T                                   # grad V = -s at the particles
        expected = G_Z @ Lc.T if pullback == "authors" else G_Z @ Lc
        np.testing.assert_array_equal(G, expected)


def test_defaults_bit_identical_to_paper_polar():
    X = _tiny()
    for kw in (dict(), dict(integrator="em", init="data", target_covariance="mixture"), dict(moment_match=False)):
        a = MMSOLD(delta=0.3, sigma=0.1, n_steps=20, random_state=4, **kw).fit(X).sample(25)
        b = MMSOLD(delta=0.3, sigma=0.1, n_steps=20, random_state=4, pullback="paper", retraction="polar",
                   **kw).fit(X).sample(25)
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("pullback,retraction", [("authors", "polar"), ("paper", "qr"), ("authors", "qr")])
def test_authors_options_keep_exact_moments_and_are_recorded(pullback, retraction):
    X = _tiny()
    est = MMSOLD(delta=0.3, sigma=0.1, n_steps=20, random_state=4, pullback=pullback, retraction=retraction).fit(X)
    Z = est.sample(25)
    np.testing.assert_allclose(Z.mean(0), X.mean(0), atol=1e-12)
    np.testing.assert_allclose(np.cov(Z.T, bias=True), np.cov(X.T, bias=True), atol=1e-11)
    assert (est.pullback_, est.retraction_) == (pullback, retraction)
    assert not np.array_equal(Z, MMSOLD(delta=0.3, sigma=0.1, n_steps=20, random_state=4).fit(X).sample(25))
    np.testing.assert_array_equal(Z, est.sample(25))                   # same seed, same output


def test_authors_options_validated_and_rank_deficient_refused():
    X = _tiny()
    with pytest.raises(ValueError, match="'pullback' parameter"):
        MMSOLD(pullback="cholesky").fit(X)
    with pytest.raises(ValueError, match="'retraction' parameter"):
        MMSOLD(retraction="svd").fit(X)
    Xd = np.c_[X, X.sum(1)]
    with pytest.raises(ValueError, match="full-rank Sigma"):
        MMSOLD(pullback="authors").fit(Xd)
    est = MMSOLD(pullback="authors", target_covariance="mixture", delta=0.3, n_steps=3).fit(Xd)
    np.testing.assert_allclose(est.factor_, np.linalg.cholesky(np.cov(Xd.T, bias=True) + 0.09 * np.eye(3)), atol=1e-12)
    assert np.array_equal(est.factor_, np.tril(est.factor_))
    assert MMSOLD(moment_match=False, retraction="qr").fit(X).retraction_ is None


# ---------------------------------------------------------------- the displaced-cluster warning (issue 30)
from mmsold.sampler import DisplacedParticlesWarning, displacement  # noqa: E402
from mmsold.datasets import two_spirals  # noqa: E402


def _grid_of_modes(k=4, n=1000, width=0.05, seed=0):
    rng = np.random.default_rng(seed)
    g = np.arange(k) - (k - 1) / 2
    C = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    return C[rng.integers(len(C), size=n)] + width * rng.standard_normal((n, 2))


def test_displaced_cluster_state_warns():
    # tight, well separated modes from the Gaussian start: some modes empty, clusters shifted off the data
    X = _grid_of_modes()
    est = MMSOLD(delta=0.05, sigma=0.05, n_steps=200, random_state=0).fit(X)
    with pytest.warns(DisplacedParticlesWarning, match="init='data'"):
        Z = est.sample(200)
    # independent check of the recorded share: distances by brute force
    D = np.sqrt(((Z[:, None] - X[None]) ** 2).sum(-1)).min(1)
    Dx = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1)) + np.diag(np.full(len(X), np.inf))
    scale = max(0.05 * np.sqrt(2), np.quantile(Dx.min(1), 0.95))
    assert est.displaced_share_ == pytest.approx(np.mean(D > 2 * scale))
    assert est.displaced_share_ > 0.05


@pytest.mark.parametrize("case", ["grid, data start", "checkerboard", "spirals"])
def test_no_displacement_warning_on_settled_runs(case):
    if case == "grid, data start":
        X, kw, P = _grid_of_modes(), dict(delta=0.05, sigma=0.05, n_steps=200, init="data"), 200
    else:  # the quick-start settings of the README
        X = checkerboard(1000, random_state=0) if case == "checkerboard" else two_spirals(1000, random_state=0)
        kw, P = dict(delta=0.2, sigma=0.2, n_steps=300, n_neighbors=16, n_noise=4), 1000
    est = MMSOLD(random_state=0, **kw).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DisplacedParticlesWarning)
        est.sample(P)
    assert est.displaced_share_ < 0.05


def test_displacement_of_mixture_draws_is_small():
    rng = np.random.default_rng(1)
    X = _grid_of_modes(seed=1)
    Z = X[rng.integers(0, len(X), 500)] + 0.05 * rng.standard_normal((500, 2))   # draws of p_delta
    assert displacement(Z, X, 0.05)[0] < 0.01
