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


# --- issue 12, defects 1 and 4: a scale-free rank rule, and scales float64 cannot hold -----------------------
import warnings

import pytest

from mmsold.manifold import SCALE_RATIO_LIMIT, scaled_moment_errors


def test_badly_scaled_column_keeps_its_dimension_through_mmsold():
    # the probe's example: the old eigenvalue cutoff in data units reported rank 1 and column 0 lost its variance
    from mmsold import MMSOLD
    X = np.random.default_rng(12).standard_normal((2000, 2)); X[:, 1] *= 3e6
    m = MMSOLD(n_steps=3, random_state=0).fit(X)
    Z = m.sample(400)
    assert m.rank_ == 2
    var0 = np.mean((X[:, 0] - X[:, 0].mean()) ** 2)            # independent: the data's own column-0 variance
    assert abs(Z[:, 0].var() - var0) < 1e-10 * var0
    assert 0.9 < var0 < 1.1
    assert max(scaled_moment_errors(Z, X.mean(0), np.cov(X.T, bias=True))) < 1e-10


@given(st.integers(1, 6), st.integers(0, 4), st.floats(-6.0, 6.0), st.integers(0, 2**32 - 1))
def test_rank_is_scale_free_and_factor_is_exact_per_column(d, deficiency, log_ratio, seed):
    rng = np.random.default_rng(seed)
    r = max(1, d - deficiency)
    N = int(rng.integers(r + 3, 80))
    X0 = rng.normal(size=(N, r)) @ rng.normal(size=(r, d))      # generic: rank r
    scales = 10.0 ** (np.linspace(0, log_ratio, d) if d > 1 else np.zeros(1))   # spreads up to 1e6 apart
    X = X0 * scales + rng.normal(size=d) * scales
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)           # below SCALE_RATIO_LIMIT: no warning
        mu, Sigma, L = moment_coordinates(X)
    assert L.shape == (d, min(r, d))
    s = X.std(axis=0)
    np.testing.assert_allclose((L @ L.T) / np.outer(s, s), Sigma / np.outer(s, s), atol=1e-10)
    Z = to_particles(retract(rng.normal(size=(L.shape[1] + 5, L.shape[1]))), mu, L)
    me, ce = scaled_moment_errors(Z, mu, Sigma)
    assert me < 1e-10 * (1 + np.max(np.abs(mu) / s)) and ce < 1e-10 * (1 + np.max(np.abs(mu) / s))


def test_scale_ratio_warning_names_the_columns():
    X = np.random.default_rng(0).normal(size=(300, 3)) * np.array([1.0, 3e8, 2.0])
    with pytest.warns(RuntimeWarning, match=r"column\(s\) 0 \(std .*\), 2 \(std .*\) of X .* column 1"):
        _, _, L = moment_coordinates(X)
    assert L.shape == (3, 3)                                  # warned, but no dimension is dropped
    assert SCALE_RATIO_LIMIT == 1e7


@pytest.mark.parametrize("factor, match", [(1e300, "overflow"), (1e200, "overflow"), (1e-300, "underflows"),
                                           (1e-160, "underflows")])
def test_over_and_underflowing_data_are_refused_with_rescale_advice(factor, match):
    X = np.random.default_rng(1).normal(size=(50, 2)) * factor
    with pytest.raises(ValueError, match=match) as e:
        moment_coordinates(X)
    assert "Rescale" in str(e.value) and "all 50 points identical" not in str(e.value)


def test_identical_points_keep_their_own_message():
    with pytest.raises(ValueError, match="all 5 points identical"):
        moment_coordinates(np.full((5, 3), 0.1))
    with pytest.raises(ValueError, match="all 5 points identical"):
        moment_coordinates(np.full((5, 3), 1e-300))


def test_constant_column_is_reproduced():
    X = np.c_[np.random.default_rng(2).normal(size=(40, 2)), np.full(40, 0.1)]
    mu, Sigma, L = moment_coordinates(X)
    assert mu[2] == 0.1 and L.shape == (3, 2)
    Z = to_particles(retract(np.random.default_rng(3).normal(size=(10, 2))), mu, L)
    np.testing.assert_allclose(Z[:, 2], 0.1, rtol=1e-14)


@pytest.mark.parametrize("which", ["digits", "toy", "full_rank"])
def test_well_scaled_data_keep_the_previous_factor_bit_for_bit(which):
    # seeded outputs of the figures must not change: the factor is the one the eigenvalue rule gave before issue 12
    from mmsold.datasets import load_digits_class, load_toy
    X = {"digits": lambda: load_digits_class(8), "toy": lambda: load_toy("checkerboard", 500, 0),
         "full_rank": lambda: np.random.default_rng(0).normal(size=(60, 5))}[which]()
    N, d = X.shape
    Xc = X - X.mean(axis=0)
    S = Xc.T @ Xc / N
    S = 0.5 * (S + S.T)
    w, V = np.linalg.eigh(S)
    keep = w > max(N, d) * np.finfo(float).eps * w[-1]
    previous = np.linalg.cholesky(S) if keep.all() else V[:, keep] * np.sqrt(w[keep])
    mu, Sigma, L = moment_coordinates(X)
    assert np.array_equal(Sigma, S) and np.array_equal(L, previous)


# ---------------------------------------------------------------- the authors' variants (issue 30)
from mmsold.manifold import center, project_uncentred, qr_retract, retract_step  # noqa: E402


@given(manifold_point())
def test_qr_retraction_lands_on_manifold_with_positive_diag_R(pt):
    Y, rng = pt
    P, r = Y.shape
    A = rng.normal(size=Y.shape) * rng.uniform(0.1, 10) + rng.normal(size=r) * 5
    Q = qr_retract(A)
    assert np.abs(Q.sum(0)).max() < 1e-10 * P                       # 1^T Y = 0
    np.testing.assert_allclose(Q.T @ Q, P * np.eye(r), atol=1e-10 * P)  # Y^T Y = P I
    # R = Q^T C A / sqrt(P) is upper triangular with a positive diagonal, and Q R reproduces C A
    R = Q.T @ center(A) / np.sqrt(P)
    scale = np.abs(R).max()
    assert np.abs(np.tril(R, -1)).max() <= 1e-10 * scale
    assert np.all(np.diag(R) > 0)
    np.testing.assert_allclose(Q @ R / np.sqrt(P), center(A), atol=1e-10 * np.abs(A).max() * r)


@given(manifold_point())
def test_qr_step_is_qr_of_the_tangent_step(pt):
    "The missing centring in the authors' projection is immaterial: C(Y + Pi_nc(xi)) = Y + Pi_Y(xi)."
    Y, rng = pt
    xi = 0.1 * rng.normal(size=Y.shape) + rng.normal(size=Y.shape[1])
    np.testing.assert_allclose(center(project_uncentred(Y, xi)), tangent_project(Y, xi), atol=1e-12)
    np.testing.assert_allclose(retract_step(Y, xi, "qr"), qr_retract(Y + tangent_project(Y, xi)), atol=1e-10)


def test_pullback_authors_is_GZ_LT_and_paper_is_GZ_L():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3)) @ rng.normal(size=(3, 3))
    mu, Sigma, L = moment_coordinates(X)
    Lc = np.linalg.cholesky(Sigma)                                   # independent: numpy's Cholesky
    G_Z = rng.normal(size=(7, 3))
    assert np.array_equal(pullback_gradient(G_Z, Lc, "authors"), G_Z @ Lc.T)
    assert np.array_equal(pullback_gradient(G_Z, L), G_Z @ L)
    assert np.array_equal(pullback_gradient(G_Z, L, "paper"), pullback_gradient(G_Z, L))
    # written out entrywise: (G_Z L^T)_ij = sum_k G_ik L_jk
    manual = np.array([[sum(G_Z[i, k] * Lc[j, k] for k in range(3)) for j in range(3)] for i in range(7)])
    np.testing.assert_allclose(pullback_gradient(G_Z, Lc, "authors"), manual, rtol=1e-13, atol=1e-13)
    assert not np.allclose(pullback_gradient(G_Z, Lc, "authors"), pullback_gradient(G_Z, Lc))
