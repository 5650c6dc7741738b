"""Tests of mmsold.meanfield: the explicit finite-P SDE and the mean-field convergence (nbs/12_mean_field.ipynb)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.stats import norm, wasserstein_distance

from mmsold.manifold import moment_coordinates, pullback_gradient, retract, to_particles
from mmsold.meanfield import (bimodal_1d, cdf_distances, constraint_multipliers, fit_rate, grid_cdf,
                              mean_field_study_1d, retract_batch, run_particle_system, w1_to_grid_1d)
from mmsold.tilt import TabulatedScore


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10**6), P=st.integers(4, 40), d=st.sampled_from([1, 2, 3]))
def test_multipliers_gaussian_case_exact(seed, P, d):
    """For quadratic V (naive N(m, C)) and any cloud with exact moments (mu, S):
    Lam_t = c S^-1 - C^-1, lam_t = c S^-1 mu - C^-1 m, c = 1 - (d + 3) / (2P)."""
    r = np.random.default_rng(seed)
    A = r.standard_normal((d, d)); C = A @ A.T + 0.5 * np.eye(d)
    B = r.standard_normal((d, d)); S = B @ B.T + 0.5 * np.eye(d)
    m, mu = r.standard_normal(d), r.standard_normal(d)
    Y = retract(r.standard_normal((P, d)))
    Z = to_particles(Y, mu, np.linalg.cholesky(S))
    lam, Lam = constraint_multipliers(Z, (Z - m) @ np.linalg.inv(C), mu, S)
    c = 1 - (d + 3) / (2 * P)
    np.testing.assert_allclose(Lam, c * np.linalg.inv(S) - np.linalg.inv(C), atol=1e-9)
    np.testing.assert_allclose(lam, c * np.linalg.solve(S, mu) - np.linalg.solve(C, m), atol=1e-9)


def test_multipliers_are_the_integrator_drift():
    "Antithetic one-step drift of the projected scheme matches the finite-P formula (Ito factor included)."
    X = bimodal_1d()
    mu, S, L = moment_coordinates(X)
    score = TabulatedScore(X, 0.3, 0.8)
    rng = np.random.default_rng(7)
    P, h, M = 6, 1e-5, 30000
    Y = retract(rng.standard_normal((P, 1)))
    Z = to_particles(Y, mu, L)
    gV = -score(Z)[0]
    base = Y - h * pullback_gradient(gV, L)
    xi = np.sqrt(2 * h) * rng.standard_normal((M, P, 1))
    drift = (0.5 * (retract_batch(base + xi) + retract_batch(base - xi)).mean(axis=0) - Y) / h
    D = (drift @ L.T)[:, 0] / S[0, 0] + gV[:, 0]
    coef = np.linalg.lstsq(np.c_[np.ones(P), -(Z[:, 0] - mu[0])], D, rcond=None)[0]
    _, Lam = constraint_multipliers(Z, gV, mu, S)
    _, Lam1 = constraint_multipliers(Z, gV, mu, S, finite_p=False)
    assert abs(coef[1] - Lam[0, 0]) < 0.015 * abs(Lam[0, 0])
    assert abs(coef[1] - Lam1[0, 0]) > 0.04 * abs(Lam[0, 0])


def test_retract_batch_matches_retract():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, 11, 3))
    R = retract_batch(X)
    for k in range(4):
        np.testing.assert_allclose(R[k], retract(X[k]), atol=1e-12)


def test_particle_system_keeps_moments_and_is_seeded():
    X = bimodal_1d(n=40)
    mu, S, _ = moment_coordinates(X)
    seen = []

    def check(Z):
        seen.append(Z.copy())
        assert np.allclose(Z.mean(axis=1), mu, atol=1e-12)
        assert np.allclose(((Z - mu) ** 2).mean(axis=1), S[0, 0], atol=1e-12)

    out1 = run_particle_system(X, 0.3, 0.5, 12, 0.01, 30, n_replicas=2, on_record=check, random_state=3)
    out2 = run_particle_system(X, 0.3, 0.5, 12, 0.01, 30, n_replicas=2, random_state=3)
    assert len(seen) == 30
    np.testing.assert_array_equal(out1["Lam"], out2["Lam"])
    with pytest.raises(ValueError):
        run_particle_system(X, 0.3, 0.5, 2, 0.01, 30)
    with pytest.raises(ValueError):
        run_particle_system(X, 0.3, 0.5, 12, -0.01, 30)
    with pytest.raises(ValueError, match="score_estimator must be one of"):
        run_particle_system(X, 0.3, 0.5, 12, 0.01, 30, score_estimator="table")
    with pytest.raises(ValueError, match="integrator"):
        run_particle_system(X, 0.3, 0.5, 12, 0.01, 30, integrator="baoab")


def test_particle_system_with_another_estimator_keeps_moments():
    "Any registered score estimator drives the system (here quadrature with EM); the moments stay exact."
    X = bimodal_1d(n=40)
    mu, S, _ = moment_coordinates(X)

    def check(Z):
        assert np.allclose(Z.mean(axis=1), mu, atol=1e-12)
        assert np.allclose(((Z - mu) ** 2).mean(axis=1), S[0, 0], atol=1e-12)

    out = run_particle_system(X, 0.3, 0.5, 10, 0.01, 10, n_replicas=2, integrator="em",
                              score_estimator="quadrature", on_record=check, random_state=0)
    assert out["Lam"].shape == (2, 1, 1) and np.all(np.isfinite(out["Lam"]))


def test_distances_against_scipy_and_unbiasedness():
    rng = np.random.default_rng(1)
    g = np.linspace(-6, 6, 3001); w = np.full(3001, g[1] - g[0]); w[[0, -1]] /= 2
    phi = np.exp(-g**2 / 2) / np.sqrt(2 * np.pi)
    x = rng.standard_normal(4000)
    assert abs(w1_to_grid_1d(x, g, phi, w) - wasserstein_distance(x, g, v_weights=phi * w)) < 1e-3
    blocks = np.stack([np.searchsorted(np.sort(rng.standard_normal(1000)), g, side="right") / 1000 for _ in range(30)])
    w1, d2, se = cdf_distances(blocks, g, w, phi)
    assert abs(d2) < 3 * se and w1 > 0  # W1 carries the noise floor, the debiased distance does not
    assert np.abs(grid_cdf(g, phi) - (norm.cdf(g) - norm.cdf(-6))).max() < 1e-6  # partial trapezoid sums: O(h^2), h = 0.004


def test_marginal_approaches_tilt_not_naive():
    """Fast seeded 1D example: the long-run one-particle marginal's W1 to pi_MM shrinks from P=10 to
    P=300 (and is below a quarter of W1(pi_naive, pi_MM) there), while its W1 to pi_naive does not shrink."""
    X = bimodal_1d()
    st_ = mean_field_study_1d(X, 0.3, 0.8, P_values=(10, 300), step_sizes=(0.012,), horizon=10.0,
                              particles_per_step=300, n_grid=1001, random_state=1)
    r10, r300 = st_["rows"]
    assert r300["w1_mm"] < 0.7 * r10["w1_mm"]
    assert r300["w1_mm"] <= 0.25 * st_["w1_naive_mm"]
    assert r300["w1_naive"] > 0.9 * st_["w1_naive_mm"] and r10["w1_naive"] > 0.9 * st_["w1_naive_mm"]
    assert abs(r300["Lam"] - st_["Lam"]) < abs(r10["Lam"] - st_["Lam"])


def test_fit_rate_recovers_power_law():
    P = np.array([10, 30, 100, 300, 1000])
    alpha, C = fit_rate(P, 0.7 * P**-1.3)
    assert abs(alpha - 1.3) < 1e-12 and abs(C - 0.7) < 1e-12
