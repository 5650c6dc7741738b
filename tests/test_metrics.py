"""Tests for mmsold.metrics against independent computations (POT, brute-force loops, closed forms)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.spatial.distance import cdist

from mmsold.metrics import (density_coverage, kernel_inception_distance, memorisation_report,
                            memorisation_share, moment_errors, nearest_train_distance_ratio,
                            precision_recall, sliced_wasserstein)

ot = pytest.importorskip("ot", reason="POT is needed for the SW2 reference")


@pytest.mark.parametrize("n,m,d", [(500, 500, 2), (400, 300, 2), (200, 200, 5), (250, 333, 3)])
def test_sw2_matches_pot_same_projection_count(n, m, d):
    rng = np.random.default_rng(n + m + d)
    A = rng.standard_normal((n, d))
    B = rng.standard_normal((m, d)) * 1.5 + 0.7
    L = 2000
    ours = sliced_wasserstein(A, B, n_projections=L, random_state=0)
    pot = ot.sliced_wasserstein_distance(A, B, n_projections=L, p=2, seed=123)
    assert abs(ours - pot) < 0.05 * pot, (ours, pot)


def test_sw2_matches_pot_identical_directions():
    # monkeypatching our direction sampler is not needed: POT takes the directions explicitly
    from mmsold.metrics import _random_directions, _sw2_squared_per_direction
    rng = np.random.default_rng(7)
    A, B = rng.standard_normal((123, 3)), rng.standard_normal((77, 3)) + 1
    theta = _random_directions(3, 50, rng)
    ours = np.sqrt(np.mean(_sw2_squared_per_direction(A, B, theta)))
    pot = ot.sliced_wasserstein_distance(A, B, projections=theta.T, p=2)
    assert ours == pytest.approx(pot, rel=1e-10)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 40), seed=st.integers(0, 10_000))
def test_sw2_properties(n, seed):
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((n, 2)), rng.standard_normal((n + 3, 2))
    s1 = sliced_wasserstein(A, B, 64, random_state=seed)
    s2 = sliced_wasserstein(B, A, 64, random_state=seed)
    assert s1 == pytest.approx(s2, rel=1e-12)                       # symmetric with same directions
    assert sliced_wasserstein(A[::-1], B, 64, random_state=seed) == pytest.approx(s1, rel=1e-12)
    assert sliced_wasserstein(A, B, 64, random_state=seed) == s1    # same seed, same value
    assert sliced_wasserstein(A, A, 8, random_state=seed) == 0.0


def test_sw2_translation_closed_form():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((300, 3))
    c = np.array([0.5, -1.0, 2.0])
    sw = sliced_wasserstein(A, A + c, n_projections=40_000, random_state=2)
    # E[(theta.c)^2] = |c|^2 / d for theta uniform on the sphere
    assert sw**2 == pytest.approx(c @ c / 3, rel=0.03)


def test_moment_errors_closed_form():
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((200, 2))
    m = Z.mean(0)
    C = (Z - m).T @ (Z - m) / len(Z)  # population convention
    e = moment_errors(Z, m + [0.1, -0.2], C / 2)
    assert e[0] == pytest.approx(0.2)
    assert e[1] == pytest.approx(1.0)   # C - C/2 = C/2, relative to C/2


def test_memorisation_against_brute_force():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 2))
    Z = np.vstack([X[:50] + 1e-3 * rng.standard_normal((50, 2)), rng.standard_normal((150, 2))])
    D = np.sort(cdist(Z, X), axis=1)
    ratio = D[:, 0] / D[:, 1]
    assert np.allclose(nearest_train_distance_ratio(Z, X), ratio)
    assert memorisation_share(Z, X) == pytest.approx(np.mean(ratio < 1 / 3))
    rep = memorisation_report(Z, X, rng.standard_normal((400, 2)))
    assert rep["share"] > rep["share_heldout"]
    Dx = np.sort(cdist(X, X), axis=1)
    assert rep["median_nn_train"] == pytest.approx(np.median(Dx[:, 1]))


def _kid_loop(A, B):
    f, m = A.shape[1], len(A)
    k = lambda a, b: (float(np.dot(a, b)) / f + 1) ** 3
    xx = sum(k(A[i], A[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(B[i], B[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(A[i], B[j]) for i in range(m) for j in range(m)) / m**2
    return xx + yy - 2 * xy


def test_kid_against_loop_over_subsets():
    rng = np.random.default_rng(5)
    A, B = rng.standard_normal((40, 4)), rng.standard_normal((35, 4)) + 0.2
    mean, sd = kernel_inception_distance(A, B, n_subsets=3, subset_size=20, random_state=9)
    # replay the same subset draws with an independent generator with the same seed
    g = np.random.default_rng(9)
    vals = []
    for _ in range(3):
        ia, ib = g.choice(40, 20, replace=False), g.choice(35, 20, replace=False)
        vals.append(_kid_loop(A[ia], B[ib]))
    assert mean == pytest.approx(np.mean(vals), rel=1e-10)
    assert sd == pytest.approx(np.std(vals), rel=1e-8)


def test_precision_recall_density_coverage_brute_force():
    rng = np.random.default_rng(11)
    X, Z = rng.standard_normal((250, 3)), rng.standard_normal((180, 3)) * 0.8 + 0.3
    for k in (1, 3, 5):
        rx = np.sort(cdist(X, X), axis=1)[:, k]
        rz = np.sort(cdist(Z, Z), axis=1)[:, k]
        inside = cdist(Z, X) <= rx[None]
        p = inside.any(1).mean()
        r = (cdist(X, Z) <= rz[None]).any(1).mean()
        assert np.allclose(precision_recall(X, Z, k), (p, r))
        assert np.allclose(density_coverage(X, Z, k), (inside.sum() / (k * len(Z)), inside.any(0).mean()))


@pytest.mark.parametrize("call", [
    lambda: sliced_wasserstein(np.zeros((3, 2)), np.zeros((3, 3))),
    lambda: sliced_wasserstein(np.zeros((0, 2)), np.zeros((3, 2))),
    lambda: sliced_wasserstein(np.full((3, 2), np.inf), np.zeros((3, 2))),
    lambda: sliced_wasserstein(np.zeros((3, 2)), np.zeros((3, 2)), n_projections=0),
    lambda: moment_errors(np.zeros((3, 2)), np.zeros(2), np.zeros((2, 2))),
    lambda: memorisation_share(np.zeros((3, 2)), np.zeros((1, 2))),
    lambda: memorisation_share(np.zeros((3, 2)), np.zeros((4, 2)), threshold=2),
    lambda: kernel_inception_distance(np.zeros((3, 2)), np.zeros((3, 2)), subset_size=1),
    lambda: precision_recall(np.zeros((3, 2)), np.zeros((3, 2)), k=5),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_bad_types_raise_type_error():
    with pytest.raises(TypeError):
        sliced_wasserstein("abc", np.zeros((3, 2)))
    with pytest.raises(TypeError):
        sliced_wasserstein(np.zeros((3, 2)), np.zeros((3, 2)), n_projections=2.5)
    with pytest.raises(TypeError):
        kernel_inception_distance(np.zeros((3, 2)), np.zeros((3, 2)), random_state="x")
