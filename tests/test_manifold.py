"""Properties of the moment manifold: tangent projection, closest-point retraction, eq. (34)."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from mmsold.manifold import (manifold_error, moment_coordinates, pullback_gradient, retract, tangent_project,
                             to_coordinates, to_particles)


@st.composite
def manifold_point(draw, max_r=6):
    r = draw(st.integers(1, max_r))
    P = draw(st.integers(r + 1, r + 12))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return retract(rng.normal(size=(P, r))), rng


@given(manifold_point())
def test_retraction_lands_on_manifold_and_fixes_it(pt):
    Y, rng = pt
    assert manifold_error(Y) < 1e-12
    np.testing.assert_allclose(retract(Y), Y, atol=1e-12)
    A = rng.normal(size=Y.shape) * rng.uniform(0.1, 10)
    assert manifold_error(retract(A)) < 1e-12


@given(manifold_point())
def test_retraction_is_the_closest_point(pt):
    Y, rng = pt
    A = Y + rng.normal(size=Y.shape)
    RA = retract(A)
    best = np.linalg.norm(A - RA)
    # any other point of M is at least as far: random points and small perturbations of RA along M
    for _ in range(30):
        O = retract(rng.normal(size=Y.shape))
        assert best <= np.linalg.norm(A - O) + 1e-10
        O2 = retract(RA + 1e-3 * rng.normal(size=Y.shape))
        assert best <= np.linalg.norm(A - O2) + 1e-10


@given(manifold_point())
def test_projection_is_orthogonal_onto_tangent_space(pt):
    Y, rng = pt
    xi, eta = rng.normal(size=(2,) + Y.shape)
    T = tangent_project(Y, xi)
    np.testing.assert_allclose(T.sum(0), 0, atol=1e-10)
    np.testing.assert_allclose(Y.T @ T + T.T @ Y, 0, atol=1e-9)
    np.testing.assert_allclose(tangent_project(Y, T), T, atol=1e-10)                     # idempotent
    assert abs(np.sum(T * eta) - np.sum(xi * tangent_project(Y, eta))) < 1e-9 * (1 + np.abs(xi).sum())  # self-adjoint
    # a normal vector (1 c^T or Y S, S symmetric) projects to zero
    S = rng.normal(size=(Y.shape[1],) * 2)
    Nrm = np.ones((len(Y), 1)) * rng.normal(size=(1, Y.shape[1])) + Y @ (S + S.T)
    np.testing.assert_allclose(tangent_project(Y, Nrm), 0, atol=1e-9)


@given(manifold_point())
def test_retraction_matches_projection_to_first_order(pt):
    # R(Y + t xi) = Y + t Pi_Y(xi) + O(t^2): the retraction's derivative is the projection
    Y, rng = pt
    xi = rng.normal(size=Y.shape)
    t = 1e-6
    np.testing.assert_allclose((retract(Y + t * xi) - Y) / t, tangent_project(Y, xi), atol=1e-4)


@given(st.integers(1, 8), st.integers(0, 7), st.integers(0, 2**32 - 1))
def test_moment_coordinates_exact_moments(d, deficiency, seed):
    rng = np.random.default_rng(seed)
    r = max(1, d - deficiency)
    N = rng.integers(r + 2, 60)
    X = rng.normal(size=(N, r)) @ rng.normal(size=(r, d)) + rng.normal(size=d)
    mu, Sigma, L = moment_coordinates(X)
    assert L.shape == (d, min(r, d))
    np.testing.assert_allclose(L @ L.T, Sigma, atol=1e-10 * np.abs(Sigma).max())
    P = L.shape[1] + 1 + rng.integers(0, 10)
    Z = to_particles(retract(rng.normal(size=(P, L.shape[1]))), mu, L)
    np.testing.assert_allclose(Z.mean(0), mu, atol=1e-10 * (1 + np.abs(mu).max()))
    np.testing.assert_allclose(np.cov(Z.T, bias=True).reshape(d, d), Sigma, atol=1e-10 * np.abs(Sigma).max())
    np.testing.assert_allclose(to_coordinates(Z, mu, L), (Z - mu) @ np.linalg.pinv(L).T, atol=1e-8)


@given(st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_pullback_gradient_matches_finite_differences(d, seed):
    rng = np.random.default_rng(seed)
    P = d + 2
    A = rng.normal(size=(d, d)); H = A @ A.T + np.eye(d)
    mu = rng.normal(size=d); L = np.linalg.cholesky(H)
    V = lambda Z: 0.5 * np.einsum("pi,ij,pj->p", Z, H, Z) + np.cos(Z).sum(1)
    gradV = lambda Z: Z @ H - np.sin(Z)
    F = lambda Y: V(to_particles(Y, mu, L)).sum()
    Y = retract(rng.normal(size=(P, d)))
    G = pullback_gradient(gradV(to_particles(Y, mu, L)), L)
    h = 1e-6; fd = np.zeros_like(Y)
    for i in range(P):
        for j in range(d):
            E = np.zeros_like(Y); E[i, j] = h
            fd[i, j] = (F(Y + E) - F(Y - E)) / (2 * h)
    np.testing.assert_allclose(G, fd, rtol=1e-5, atol=1e-5 * np.abs(fd).max())
