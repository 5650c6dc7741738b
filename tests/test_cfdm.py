"""Tests for mmsold.cfdm (sigma-CFDM) against independent computations."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.special import logsumexp, softmax
from sklearn.exceptions import NotFittedError
from sklearn.neighbors import NearestNeighbors

from mmsold.cfdm import (SigmaCFDM, _complement_draws, _nn_posterior_mean, cfdm_posterior_mean,
                         cfdm_velocity, closed_form_score, smoothed_posterior_mean)
from mmsold.metrics import memorisation_share


def _log_rho(z, X, t):
    # log (1/N) sum_i N(z; t x_i, (1-t)^2 I), written directly
    d = X.shape[1]
    s2 = (1 - t) ** 2
    return logsumexp(-np.sum((z - t * X) ** 2, 1) / (2 * s2)) - np.log(len(X)) - d / 2 * np.log(2 * np.pi * s2)


@pytest.mark.parametrize("t", [0.0, 0.25, 0.6, 0.9])
def test_score_is_gradient_of_log_density(t):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 3))
    Z = rng.standard_normal((4, 3))
    h = 1e-5
    fd = np.array([[(_log_rho(z + h * e, X, t) - _log_rho(z - h * e, X, t)) / (2 * h) for e in np.eye(3)]
                   for z in Z])
    assert np.allclose(closed_form_score(Z, X, t), fd, atol=1e-5, rtol=1e-6)


def test_posterior_mean_matches_scipy_softmax_and_is_stable_near_t1():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((25, 2)) * 3
    Z = rng.standard_normal((6, 2)) * 3
    for t in (0.3, 0.999):
        w = softmax(-((Z[:, None, :] - t * X[None]) ** 2).sum(-1) / (2 * (1 - t) ** 2), axis=1)
        m = cfdm_posterior_mean(Z, X, t)
        assert np.all(np.isfinite(m))
        assert np.allclose(m, w @ X, atol=1e-10)


def test_complement_draws_avoid_neighbours_and_cover_the_rest():
    rng = np.random.default_rng(3)
    N, K = 12, 4
    nbr = np.stack([rng.choice(N, K, replace=False) for _ in range(10)])
    draws = _complement_draws(nbr, N, 3000, rng)
    for row, dr in zip(nbr, draws):
        assert not np.isin(dr, row).any()
        assert set(dr) == set(range(N)) - set(row)


def test_nn_estimator_exact_when_k_equals_n_and_deann_beats_truncation():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((300, 2))
    Y = rng.standard_normal((5, 2))
    t = 0.3
    nn = NearestNeighbors().fit(X)
    exact = cfdm_posterior_mean(Y, X, t)
    assert np.allclose(_nn_posterior_mean(Y, X, t, nn, 300, 10, rng), exact, atol=1e-12)
    trunc = _nn_posterior_mean(Y, X, t, nn, 8, 0, rng)
    deann = np.mean([_nn_posterior_mean(Y, X, t, nn, 8, 40, rng) for _ in range(300)], axis=0)
    assert np.abs(deann - exact).max() < np.abs(trunc - exact).max()


def test_smoothed_mean_is_average_over_perturbed_points():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((30, 2))
    Z = rng.standard_normal((4, 2))
    t, sigma, M = 0.5, 0.4, 6
    got = smoothed_posterior_mean(Z, X, t, sigma, n_noise=M, random_state=11)
    eps = np.random.default_rng(11).standard_normal((4, M, 2))  # same draws, same order
    ref = np.stack([np.mean([cfdm_posterior_mean((z + sigma * e)[None], X, t)[0] for e in es], axis=0)
                    for z, es in zip(Z, eps)])
    assert np.allclose(got, ref, atol=1e-12)


def test_one_euler_step_lands_on_posterior_mean():
    # with S = 1 the single step from t0 to 1 gives z + (1 - t0) (m - z) / (1 - t0) = m_{t0}(z)
    rng = np.random.default_rng(6)
    X = rng.standard_normal((20, 2))
    t0 = 0.4
    m = SigmaCFDM(sigma=0.0, n_steps=1, t0=t0).fit(X)
    Z = m.sample(10, random_state=8)
    g = np.random.default_rng(8)
    Z0 = t0 * X[g.integers(0, 20, size=10)] + (1 - t0) * g.standard_normal((10, 2))
    assert np.allclose(Z, cfdm_posterior_mean(Z0, X, t0), atol=1e-12)


def test_sigma_zero_memorises_sigma_positive_does_not():
    rng = np.random.default_rng(7)
    X = rng.uniform(-2, 2, size=(300, 2))
    H = rng.uniform(-2, 2, size=(300, 2))
    Z0 = SigmaCFDM(sigma=0.0, n_steps=60, t0=0.5, random_state=0).fit(X).sample(300)
    Z1 = SigmaCFDM(sigma=0.3, n_steps=60, t0=0.5, random_state=0).fit(X).sample(300)
    share_h = memorisation_share(H, X)
    assert memorisation_share(Z0, X) > 0.95
    assert memorisation_share(Z1, X) < 2 * share_h + 0.05


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), sigma=st.sampled_from([0.0, 0.2]))
def test_training_order_does_not_matter_and_seed_reproduces(seed, sigma):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((40, 2))
    perm = rng.permutation(40)
    a = SigmaCFDM(sigma=sigma, n_steps=10, t0=0.0, random_state=seed).fit(X).sample(15)
    b = SigmaCFDM(sigma=sigma, n_steps=10, t0=0.0, random_state=seed).fit(X[perm]).sample(15)
    assert np.allclose(a, b, atol=1e-9)
    assert np.array_equal(a, SigmaCFDM(sigma=sigma, n_steps=10, t0=0.0, random_state=seed).fit(X).sample(15))


def test_velocity_rejects_t_one():
    with pytest.raises(ValueError, match="t must"):
        cfdm_velocity(np.zeros((2, 2)), np.zeros((3, 2)), 1.0, 0.0)


@pytest.mark.parametrize("kw,exc", [({"sigma": -0.1}, ValueError), ({"n_steps": 0}, ValueError),
                                    ({"t0": 1.0}, ValueError), ({"n_neighbors": 0}, ValueError),
                                    ({"n_noise": 1.5}, TypeError), ({"sigma": "a"}, TypeError)])
def test_bad_params(kw, exc):
    with pytest.raises(exc):
        SigmaCFDM(**kw).fit(np.zeros((5, 2)))


def test_bad_data_and_unfitted():
    with pytest.raises(ValueError):
        SigmaCFDM().fit(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError):
        SigmaCFDM().fit(np.zeros(5))
    with pytest.raises(NotFittedError):
        SigmaCFDM().sample(5)
    with pytest.raises(ValueError):
        SigmaCFDM().fit(np.zeros((5, 2))).sample(0)


def test_sklearn_estimator_clone_set_params_and_refit_guard():
    from sklearn.base import clone
    X = np.random.default_rng(9).standard_normal((30, 2))
    m = SigmaCFDM(sigma=0.1, n_steps=3, n_neighbors=5, n_remainder=3, n_noise=2, random_state=0).fit(X)
    assert clone(m).get_params() == m.get_params()
    assert sorted(m.get_params()) == ["n_neighbors", "n_noise", "n_remainder", "n_steps", "random_state", "sigma", "t0"]
    m.set_params(n_remainder=4)
    with pytest.raises(ValueError, match="call fit"):
        m.sample(2)
    m.set_params(n_remainder=3, random_state=5)          # back as fitted; the seed may change
    assert np.array_equal(m.sample(4), m.sample(4, random_state=5))


# scikit-learn's estimator checks that do not pass, with the reason (none today: the shared
# mmsold.core.validate_data uses the wording and exception types the checks expect)
KNOWN_CHECK_FAILURES: set = set()


def test_sklearn_check_estimator():
    import warnings
    from sklearn.utils.estimator_checks import check_estimator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = check_estimator(SigmaCFDM(n_steps=3), on_fail=None)
    failed = {r["check_name"] for r in res if r["status"] == "failed"}
    passed = {r["check_name"] for r in res if r["status"] == "passed"}
    assert failed <= KNOWN_CHECK_FAILURES, failed - KNOWN_CHECK_FAILURES
    assert {"check_fit_idempotent", "check_estimators_pickle", "check_parameters_default_constructible",
            "check_dont_overwrite_parameters", "check_no_attributes_set_in_init"} <= passed
