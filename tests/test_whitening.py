"""PartialWhitening (nbs/30b_whitening.ipynb): spectrum max(lambda_i, tau), exact inverse, sklearn API, bad k."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from sklearn.base import clone

from mmsold.whitening import PartialWhitening


def _data(seed, n, d):
    "Anisotropic data with a known-distinct spectrum and a random rotation and offset."
    r = np.random.default_rng(seed)
    scales = np.geomspace(5.0, 0.05, d)
    Q = np.linalg.qr(r.normal(size=(d, d)))[0]
    return r.normal(size=(n, d)) * scales @ Q.T + r.normal(size=d)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(2, 9), data=st.data())
def test_whitened_spectrum_is_lifted_tail(seed, d, data):
    k = data.draw(st.integers(1, d - 1))
    X = _data(seed, 200, d)
    pw = PartialWhitening(k).fit(X)
    # independent reference: eigenvalues of the 1/N covariance, computed here
    lam = np.sort(np.linalg.eigvalsh(np.cov(X, rowvar=False, bias=True)))[::-1]
    tau = lam[k]                                   # the (k+1)-th largest
    Xw = pw.transform(X)
    ev = np.sort(np.linalg.eigvalsh(np.cov(Xw, rowvar=False, bias=True)))[::-1]
    np.testing.assert_allclose(ev, np.maximum(lam, tau), rtol=1e-8, atol=1e-10 * lam[0])
    np.testing.assert_allclose(pw.tau_, tau, rtol=1e-10)
    np.testing.assert_allclose(Xw.mean(0), 0.0, atol=1e-9 * np.sqrt(lam[0]))
    # the top-k directions keep their variance: projections on the data's own top-k eigenvectors unchanged
    U = np.linalg.eigh(np.cov(X, rowvar=False, bias=True))[1][:, ::-1][:, :k]
    np.testing.assert_allclose((Xw @ U).var(0), (X @ U).var(0), rtol=1e-8)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(2, 8), data=st.data())
def test_inverse_undoes_transform(seed, d, data):
    k = data.draw(st.integers(1, d - 1))
    X = _data(seed, 60, d)
    pw = PartialWhitening(k).fit(X)
    np.testing.assert_allclose(pw.inverse_transform(pw.transform(X)), X, rtol=1e-9, atol=1e-9 * np.abs(X).max())
    Y = np.random.default_rng(seed + 1).normal(size=(7, d))      # also on new points
    np.testing.assert_allclose(pw.transform(pw.inverse_transform(Y)), Y, atol=1e-8 * max(1, np.abs(Y).max()))


def test_sklearn_clone_and_params():
    pw = PartialWhitening(n_components=3)
    assert pw.get_params() == {"n_components": 3}
    c = clone(pw)
    assert c is not pw and c.get_params() == {"n_components": 3} and not hasattr(c, "scale_")
    c.set_params(n_components=2)
    assert c.n_components == 2
    X = _data(0, 50, 5)
    np.testing.assert_allclose(c.fit_transform(X), PartialWhitening(2).fit(X).transform(X))


@pytest.mark.parametrize("k, err", [(0, ValueError), (5, ValueError), (6, ValueError), (-1, ValueError),
                                    (2.5, TypeError), ("3", TypeError)])
def test_bad_k(k, err):
    with pytest.raises(err, match="n_components"):
        PartialWhitening(k).fit(_data(1, 40, 5))


def test_errors_singular_and_shapes():
    X = _data(2, 40, 4)
    X[:, 3] = X[:, 0]                               # rank-deficient: the tail eigenvalue is 0
    with pytest.raises(ValueError, match="singular"):
        PartialWhitening(1).fit(X)
    pw = PartialWhitening(2).fit(_data(3, 40, 4))
    with pytest.raises(ValueError, match="features"):
        pw.transform(np.zeros((3, 5)))
    with pytest.raises(Exception, match="fit"):
        PartialWhitening(2).transform(np.zeros((3, 4)))
