"""Tests for mmsold.kinetic (constrained BAOAB on the moment manifold) against independent computations."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from mmsold.datasets import moons
from mmsold.kinetic import KineticMMSOLD, baoab_step, ou_velocity, rattle_drift, tangent_error
from mmsold.manifold import manifold_error, retract, tangent_project


def _on_manifold(P, r, rng):
    Y = retract(rng.standard_normal((P, r)))
    return Y, tangent_project(Y, rng.standard_normal((P, r)))


@settings(max_examples=25)
@given(P=st.integers(4, 30), r=st.integers(1, 3), tau=st.floats(1e-3, 0.2), seed=st.integers(0, 10_000))
def test_rattle_drift_stays_on_manifold_and_is_a_normal_correction(P, r, tau, seed):
    if P < r + 2:
        return
    rng = np.random.default_rng(seed)
    Y, W = _on_manifold(P, r, rng)
    Y1, W1 = rattle_drift(Y, W, tau)
    assert manifold_error(Y1) < 1e-12 and tangent_error(Y1, W1) < 1e-12
    # Y1 - Y - tau W must lie in the normal space {Y Lam, Lam symmetric} at Y
    D = Y1 - Y - tau * W
    Lam = np.linalg.lstsq(Y, D, rcond=None)[0]
    assert np.allclose(Y @ Lam, D, atol=1e-10) and np.allclose(Lam, Lam.T, atol=1e-10)
    # reversibility: drift back with -W1
    Yb, Wb = rattle_drift(Y1, -W1, tau)
    assert np.allclose(Yb, Y, atol=1e-9) and np.allclose(Wb, -W, atol=1e-9)


def test_ou_step_limits():
    rng = np.random.default_rng(0)
    Y, W = _on_manifold(10, 2, rng)
    xi = rng.standard_normal(Y.shape)
    assert np.allclose(ou_velocity(Y, W, 1.0, 0.0, xi), W)
    # independent projection: remove the column means, then the symmetric part of Y^T xi_c / P
    xc = xi - xi.mean(0)
    proj = xc - Y @ (0.5 * (Y.T @ xc + xc.T @ Y)) / len(Y)
    assert np.allclose(ou_velocity(Y, W, 0.0, 1.0, xi), proj)


def test_unconstrained_baoab_is_exact_for_a_harmonic_oscillator():
    # BAOAB samples N(0, 1) positions exactly for V(y) = y^2 / 2, whatever h < 2 (Leimkuhler & Matthews)
    rng = np.random.default_rng(1)
    Y = rng.standard_normal((20000, 1)) * 3
    W = np.zeros_like(Y)
    grad = lambda A: A
    G = grad(Y)
    for _ in range(150):
        Y, W, G = baoab_step(Y, W, G, grad, 1.2, 1.0, rng, constrained=False)
    assert abs(Y.var() - 1.0) < 4 * np.sqrt(2 / len(Y))
    assert abs(W.var() - 1.0) > 0.05    # ... while its end-of-step velocities are not exact at this large h


def test_constrained_zero_force_conserves_speed_without_friction():
    rng = np.random.default_rng(2)
    Y, W = _on_manifold(12, 2, rng)
    G = np.zeros_like(Y)
    e0 = (W**2).sum()
    for _ in range(50):
        Y, W, G = baoab_step(Y, W, G, lambda A: np.zeros_like(A), 0.05, 0.0, rng)
    assert abs((W**2).sum() / e0 - 1) < 1e-6 and manifold_error(Y) < 1e-12


def test_estimator_moments_every_step_and_seed():
    X = moons(150, random_state=0)
    k = KineticMMSOLD(delta=0.2, sigma=0.1, n_steps=40, random_state=0).fit(X)
    Z, tr = k.sample(60, return_trace=True)
    mu, S = X.mean(0), np.cov(X.T, bias=True)
    assert np.allclose(Z.mean(0), mu, atol=1e-12) and np.allclose(np.cov(Z.T, bias=True), S, atol=1e-12)
    assert tr["cov_error"].max() < 1e-12 and tr["tangent_error"].max() < 1e-12 and tr["manifold_error"].max() < 1e-12
    assert np.array_equal(Z, k.sample(60, random_state=0)) and not np.array_equal(Z, k.sample(60, random_state=1))
    assert k.step_size_ == pytest.approx(0.2 * 2 * 0.2 / np.sqrt(np.linalg.eigvalsh(S)[-1]))


def test_rank_deficient_data_keep_constant_coordinates():
    rng = np.random.default_rng(3)
    X = np.column_stack([rng.standard_normal((80, 2)), np.full(80, 5.0)])
    Z = KineticMMSOLD(delta=0.3, sigma=0.0, n_steps=20, random_state=0).fit(X).sample(30)
    assert np.allclose(Z[:, 2], 5.0)


@pytest.mark.parametrize("kw, exc, msg", [({"gamma": 0.0}, ValueError, "gamma"), ({"gamma": "1"}, TypeError, "gamma"),
                                          ({"step_size": -1.0}, ValueError, "step_size"), ({"delta": 0.0}, ValueError, "delta"),
                                          ({"init": "x"}, ValueError, "init"), ({"moment_match": 1}, TypeError, "moment_match")])
def test_bad_parameters(kw, exc, msg):
    with pytest.raises(exc, match=msg):
        KineticMMSOLD(**kw).fit(moons(50, random_state=0))


def test_too_few_particles_and_unfitted():
    k = KineticMMSOLD().fit(moons(50, random_state=0))
    with pytest.raises(ValueError, match="rank"):
        k.sample(2)
    with pytest.raises(ValueError, match="not fitted"):
        KineticMMSOLD().sample(5)
