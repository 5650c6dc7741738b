"""mmsold.ensembles.sample_ensembles: seeds independent of n_jobs/backend, one moment-matched cloud per block."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from joblib import parallel_config
from sklearn.exceptions import NotFittedError

from mmsold.datasets import load_toy
from mmsold.ensembles import sample_ensembles
from mmsold.kinetic import KineticMMSOLD
from mmsold.metrics import moment_errors
from mmsold.sampler import MMSOLD


class GaussianToy:
    "Not an MMSOLD: anything with fit/sample works. Draws N(mean, I) from a Generator seeded by random_state."

    def fit(self, X):
        self.mean_ = np.asarray(X, dtype=np.float64).mean(0)
        return self

    def sample(self, n, random_state=None):
        return self.mean_ + np.random.default_rng(random_state).standard_normal((n, len(self.mean_)))


def _expected_seeds(root, n):
    # independent of the module: the spec is "child e of SeedSequence(root).spawn(n)"; compare the streams
    return np.random.SeedSequence(root).spawn(n)


@pytest.fixture(scope="module")
def X():
    return load_toy("checkerboard", 200, random_state=0)


@pytest.fixture(scope="module")
def fitted(X):
    return MMSOLD(delta=0.2, sigma=0.1, n_steps=15, n_neighbors=16, n_noise=2, random_state=0).fit(X)


def test_identical_for_any_n_jobs_and_exact_block_moments(fitted):
    Z1 = sample_ensembles(fitted, 3, 40, n_jobs=1, random_state=11)
    Z2 = sample_ensembles(fitted, 3, 40, n_jobs=2, random_state=11)
    with parallel_config(backend="threading"):
        Z3 = sample_ensembles(fitted, 3, 40, n_jobs=2, random_state=11)
    assert Z1.shape == (120, 2) and np.array_equal(Z1, Z2) and np.array_equal(Z1, Z3)
    scale = np.sqrt(np.linalg.eigvalsh(fitted.covariance_)[-1])
    for e in range(3):
        me, ce = moment_errors(Z1[40 * e:40 * (e + 1)], fitted.mean_, fitted.covariance_)
        assert me / scale < 1e-10 and ce < 1e-10  # exact up to rounding (retraction to the constraint set)
    # the blocks are different clouds; a different root seed gives a different array
    assert not np.allclose(Z1[:40], Z1[40:80])
    assert not np.array_equal(Z1, sample_ensembles(fitted, 3, 40, random_state=12))


def test_kinetic_blocks_are_moment_matched(X):
    k = KineticMMSOLD(delta=0.2, sigma=0.1, n_steps=10, n_neighbors=16, n_noise=2).fit(X)
    Z = sample_ensembles(k, 2, 30, n_jobs=2, random_state=0)
    assert np.array_equal(Z, sample_ensembles(k, 2, 30, n_jobs=1, random_state=0))
    for e in range(2):
        me, ce = moment_errors(Z[30 * e:30 * (e + 1)], k.mean_, k.covariance_)
        assert me < 1e-10 and ce < 1e-10


@settings(max_examples=15)
@given(E=st.integers(1, 5), P=st.integers(1, 7), root=st.integers(0, 2**32), jobs=st.sampled_from([1, 2]))
def test_any_sampler_blocks_are_the_spawned_streams(E, P, root, jobs):
    X = np.arange(6.0).reshape(3, 2)
    toy = GaussianToy().fit(X)
    with parallel_config(backend="threading"):
        Z = sample_ensembles(toy, E, P, n_jobs=jobs, random_state=root)
    assert Z.shape == (E * P, 2)
    for e, child in enumerate(_expected_seeds(root, E)):
        # the block is a draw of the sampler with a seed from child e; recompute that seed from the child
        seed = int(child.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
        np.testing.assert_array_equal(Z[e * P:(e + 1) * P], toy.sample(P, random_state=seed))


def test_generator_and_seedsequence_roots(fitted):
    ss = np.random.SeedSequence(5)
    a = sample_ensembles(fitted, 2, 20, random_state=ss)
    assert np.array_equal(a, sample_ensembles(fitted, 2, 20, random_state=5))
    g1, g2 = np.random.default_rng(1), np.random.default_rng(1)
    assert np.array_equal(sample_ensembles(fitted, 2, 20, random_state=g1), sample_ensembles(fitted, 2, 20, random_state=g2))


@pytest.mark.parametrize("args, exc, match", [
    ((object(), 2, 10), TypeError, "fit and sample"),
    ((MMSOLD(), 2, 10), NotFittedError, "not fitted"),
    (("fitted", 0, 10), ValueError, "n_ensembles"),
    (("fitted", 2.0, 10), TypeError, "n_ensembles"),
    (("fitted", 2, 0), ValueError, "n_particles"),
    (("fitted", 2, 10, 0), ValueError, "n_jobs"),
    (("fitted", 2, 10, None, -3), ValueError, "random_state"),
    (("fitted", 2, 10, None, "x"), TypeError, "random_state"),
])
def test_bad_input_refused(fitted, args, exc, match):
    args = tuple(fitted if a == "fitted" else a for a in args)
    with pytest.raises(exc, match=match):
        sample_ensembles(*args)


def test_too_few_particles_is_the_estimators_error(fitted):
    # moment matching needs P >= rank + 1 = 3; the estimator's own message reaches the caller
    with pytest.raises(ValueError, match="n_samples"):
        sample_ensembles(fitted, 2, 2, n_jobs=1)
