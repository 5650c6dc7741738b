"""Tests of mmsold.tilt: the moment-matched tilt pi_MM (nbs/11_tilt.ipynb and 11b-11d).

Every check compares against an independent computation: a closed form, a brute-force quadrature,
or the KL/Pythagorean identities of the exponential family."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from mmsold.dynamics import NonFiniteParticlesError
from mmsold.manifold import moment_coordinates
from mmsold.potential import log_p_delta, posterior_mean, smoothed_potential, smoothed_score
from mmsold.score import SCORE_ESTIMATORS, ScoreEstimator, make_score_estimator
from mmsold.tilt import (TabulatedScore, TiltedTarget, convolved_potential, default_axes, kl_on_grid, solve_tilt,
                         solve_tilt_on_grid, solve_tilt_stochastic, tensor_grid)


def _data(seed, n, d):
    r = np.random.default_rng(seed)
    return r.standard_normal((n, d)) * r.uniform(0.5, 2.0, d) + r.standard_normal(d)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), d=st.sampled_from([1, 2]), n=st.integers(3, 25),
       delta=st.floats(0.1, 1.0), sigma=st.floats(0.0, 1.0))
def test_grid_solver_matches_moments_and_converges_from_zero(seed, d, n, delta, sigma):
    X = _data(seed, n, d)
    ax = default_axes(X, delta, sigma, n_points=301 if d == 1 else 51)
    sol = solve_tilt_on_grid(X, delta, sigma, axes=ax, potential="quadrature", n_quad=4)
    mu, S, _ = moment_coordinates(X)
    scale = np.sqrt(np.linalg.eigvalsh(S)[-1])
    # Newton starts at theta = 0: history[0] is the gradient there, the last one is below 1e-10
    assert sol.converged and sol.history[-1] <= 1e-10 and sol.n_iter <= 20
    assert np.abs(sol.mean - mu).max() <= 1e-8 * scale
    assert np.abs(sol.cov - S).max() <= 1e-8 * scale**2
    # densities are normalised on the grid
    assert abs(np.sum(sol.density * sol.weights) - 1) < 1e-12
    assert abs(np.sum(sol.naive_density * sol.weights) - 1) < 1e-12


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10**6), delta=st.floats(0.4, 1.5), sigma=st.floats(0.0, 1.0),
       s1=st.floats(0.3, 1.5), s2=st.floats(0.3, 1.5), rho=st.floats(-0.6, 0.6))
def test_gaussian_closed_form(seed, delta, sigma, s1, s2, rho):
    """One training point x: pi_naive = N(x, delta^2 I) for every sigma, so for targets (mu, S)
    Lam = S^-1 - I / delta^2 and lam = S^-1 mu - x / delta^2 (nbs/11_tilt.ipynb)."""
    r = np.random.default_rng(seed)
    x = r.uniform(-0.5, 0.5, (1, 2))
    mu = r.uniform(-0.5, 0.5, 2)
    S = np.array([[s1**2, rho * s1 * s2], [rho * s1 * s2, s2**2]])
    ax = [np.linspace(-12, 12, 241)] * 2  # >= 7.5 sd of the widest tilt: truncation below 1e-12
    V = smoothed_potential(tensor_grid(ax)[0], x, delta, sigma, n_quad=3)  # exact on quadratics
    sol = solve_tilt(V, ax, mu, S)
    Si = np.linalg.inv(S)
    assert sol.converged
    np.testing.assert_allclose(sol.Lam, Si - np.eye(2) / delta**2, atol=1e-6)
    np.testing.assert_allclose(sol.lam, Si @ mu - x[0] / delta**2, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kl_projection_and_pythagoras(seed):
    "pi_MM has smaller KL to pi_naive than other moment-class members, with the Pythagorean identity."
    r = np.random.default_rng(seed)
    X = np.concatenate([r.normal(-1, 0.3, 20), r.normal(1.5, 0.5, 30)])[:, None]
    sol = solve_tilt_on_grid(X, 0.3, 0.5, axes=default_axes(X, 0.3, 0.5, n_points=1201, width=12.0))
    z, w = sol.axes[0], sol.weights  # wide grid: the Gaussian members must not be truncated
    mu, S, _ = moment_coordinates(X)
    m, v = mu[0], S[0, 0]
    g = np.exp(-(z - m) ** 2 / (2 * v)) / np.sqrt(2 * np.pi * v)
    # a skewed member with the same mean and variance: mixture of two Gaussians
    p1, a1 = 0.3, 1.2
    a2 = -p1 * a1 / (1 - p1)  # zero mean offset
    s2 = v - (p1 * a1**2 + (1 - p1) * a2**2)  # common variance
    assert s2 > 0
    mix = sum(pp * np.exp(-(z - m - aa) ** 2 / (2 * s2)) / np.sqrt(2 * np.pi * s2) for pp, aa in ((p1, a1), (1 - p1, a2)))
    kl_mm = sol.kl_to_naive()
    for rho in (g, mix):
        assert abs(w @ (rho * (z - m) ** 2) - v) < 1e-8
        kl_rho = kl_on_grid(rho, sol.naive_density, w)
        assert kl_mm < kl_rho
        assert abs(kl_rho - kl_on_grid(rho, sol.density, w) - kl_mm) < 1e-8


def test_convolved_potential_against_brute_force():
    "Grid convolution of V and the score vs a brute-force trapezoid rule over u (1601 nodes)."
    r = np.random.default_rng(3)
    X = np.concatenate([r.normal(-1.2, 0.25, 30), r.normal(1.2, 0.25, 30)])[:, None]
    ax = [np.linspace(-4, 4, 161)]
    V, s = convolved_potential(X, 0.3, 0.8, ax, return_score=True)
    u = np.linspace(-9, 9, 1601)
    wu = np.exp(-u**2 / 2); wu /= wu.sum()
    zq = ax[0][::20]
    Y = (zq[:, None] + 0.8 * u[None, :]).reshape(-1, 1)
    Vb = (-log_p_delta(Y, X, 0.3)).reshape(len(zq), -1) @ wu
    sb = (((posterior_mean(Y, X, 0.3) - Y) / 0.09)[:, 0]).reshape(len(zq), -1) @ wu
    np.testing.assert_allclose(V[::20], Vb, atol=1e-9)
    np.testing.assert_allclose(s[::20, 0], sb, atol=1e-9)
    # sigma = 0 is the exact -log p_delta
    np.testing.assert_allclose(convolved_potential(X, 0.3, 0.0, ax), -log_p_delta(ax[0][:, None], X, 0.3), atol=1e-12)


def test_stochastic_solver_agrees_with_grid_in_2d():
    "Robbins-Monro multipliers within the solver's stated tolerance (4 s.e.) of the grid solution."
    r = np.random.default_rng(1)
    t = r.uniform(0, 2 * np.pi, 60)
    X = np.c_[1.5 * np.cos(t), 0.8 * np.sin(t)] + 0.1 * r.standard_normal((60, 2))
    grid = solve_tilt_on_grid(X, 0.4, 0.0)
    sa = solve_tilt_stochastic(X, 0.4, 0.0, n_chains=200, n_iter=120, random_state=0)
    assert np.all(np.abs(sa.theta - grid.theta) <= sa.tolerance())
    assert np.all(sa.theta_se < 0.1)  # the tolerance is informative, not vacuous


def test_tilted_target_samples_moments_and_seed():
    r = np.random.default_rng(0)
    X = np.concatenate([r.normal(-1.2, 0.25, 40), r.normal(1.2, 0.25, 40)])[:, None]
    tt = TiltedTarget(delta=0.3, sigma=0.6, n_steps=150, score_estimator="grid").fit(X)
    Z = tt.sample(3000, random_state=5)
    assert np.array_equal(Z, tt.sample(3000, random_state=5))
    mu, S, _ = moment_coordinates(X)
    # Monte Carlo: 4 standard errors plus 0.02 for the unadjusted Langevin bias
    assert abs(Z.mean() - mu[0]) < 4 * np.sqrt(S[0, 0] / 3000) + 0.02
    assert abs(Z.var() - S[0, 0]) < 4 * S[0, 0] * np.sqrt(2 / 3000) + 0.02


def test_bad_input():
    X = _data(0, 10, 2)
    with pytest.raises(ValueError):
        solve_tilt_on_grid(_data(0, 10, 3), 0.3, 0.1)
    with pytest.raises(ValueError):
        solve_tilt_on_grid(X, -0.3, 0.1)
    with pytest.raises(ValueError):
        solve_tilt_on_grid(X, 0.3, 0.1, axes=[np.linspace(0, 1, 10)])
    with pytest.raises(ValueError):
        solve_tilt_on_grid(X, 0.3, 0.1, axes=[np.linspace(1, 0, 10), np.linspace(0, 1, 10)])
    with pytest.raises(TypeError):
        solve_tilt_on_grid(X, 0.3, 0.1, axes="grid")
    with pytest.raises(ValueError):
        solve_tilt(np.zeros(9), [np.linspace(0, 1, 3), np.linspace(0, 1, 3)], [0, 0], [[1, 0], [0, -1]])
    with pytest.raises(ValueError):
        TiltedTarget(lam=np.zeros(2)).fit(X)
    with pytest.raises(ValueError, match="score_estimator must be one of"):
        TiltedTarget(score_estimator="fourier").fit(X)
    with pytest.raises(ValueError, match="d <= 2"):
        TiltedTarget(score_estimator="grid").fit(_data(0, 10, 3))
    with pytest.raises(ValueError, match="decay"):
        solve_tilt_stochastic(X, 0.3, 0.1, decay=1.5)
    with pytest.raises(NotFittedError):
        TiltedTarget().sample(5)


def test_tilted_target_rank_deficient_3d_stays_in_affine_hull():
    "d = 3 data on a plane: fit uses the stochastic solver in the 2D hull; samples stay on the plane."
    r = np.random.default_rng(0)
    X = r.standard_normal((50, 2)) * [1.0, 0.6]
    X = np.c_[X, X[:, 0] + X[:, 1]]
    tt = TiltedTarget(delta=0.3, sigma=0.0, n_steps=80, random_state=0).fit(X)
    assert tt.factor_.shape == (3, 2) and tt.Lam_.shape == (3, 3)
    Z = tt.sample(300, random_state=1)
    assert np.abs(Z[:, 2] - Z[:, 0] - Z[:, 1]).max() < 1e-12


def test_tabulated_score_is_a_registered_estimator():
    "The grid estimator follows the score protocol: (score, V) at the rows of Z, built by name from the registry."
    r = np.random.default_rng(2)
    X = np.concatenate([r.normal(-1, 0.3, 30), r.normal(1, 0.3, 30)])[:, None]
    assert SCORE_ESTIMATORS["grid"] is TabulatedScore and issubclass(TabulatedScore, ScoreEstimator)
    est = make_score_estimator("grid", X, 0.3, 0.5)
    Z = r.uniform(-2, 2, (20, 1))
    s, V = est(Z, None)
    assert s.shape == (20, 1) and V.shape == (20,)
    # independent reference: Gauss-Hermite with many nodes (exact to ~1e-6 for this smooth case)
    s_ref, V_ref = smoothed_score(Z, X, 0.3, 0.5, method="quadrature", n_quad=200, return_potential=True)
    np.testing.assert_allclose(s, s_ref, atol=1e-4)
    np.testing.assert_allclose(V, V_ref, atol=1e-4)
    with pytest.raises(TypeError):
        make_score_estimator("grid", X, 0.3, 0.5, n_noise=3)


def test_tilted_target_is_a_sklearn_estimator():
    "clone gives an unfitted copy with the same parameters; set_params/get_params round-trip; a fitted model pickles."
    import pickle
    r = np.random.default_rng(0)
    X = np.concatenate([r.normal(-1.2, 0.25, 40), r.normal(1.2, 0.25, 40)])[:, None]
    tt = TiltedTarget(delta=0.3, sigma=0.6, n_steps=20, score_estimator="grid", random_state=1)
    c = clone(tt)
    assert c.get_params() == tt.get_params() and not hasattr(c, "score_")
    assert c.set_params(n_steps=5).n_steps == 5 and tt.n_steps == 20
    tt.fit(X)
    Z = tt.sample(50, random_state=2)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(tt)).sample(50, random_state=2), Z)


def test_tilted_target_divergence_names_the_step_size():
    "A step far above the stability bound overflows; the run stops with NonFiniteParticlesError naming the bound."
    X = _data(0, 30, 2)
    tt = TiltedTarget(delta=0.3, sigma=0.0, lam=np.zeros(2), Lam=np.zeros((2, 2)), step_size=50.0, n_steps=300).fit(X)
    assert tt.step_size_ > 10 * tt.stability_bound_
    with pytest.raises(NonFiniteParticlesError, match="stability bound"):
        tt.sample(10, random_state=0)
