"""Tests for mmsold.ddpm. The NumPy parts run everywhere; training tests need the optional PyTorch extra."""
import importlib.util

import numpy as np
import pytest

from mmsold import ddpm
from mmsold.ddpm import DDPM, ddim_sample, ddim_step, ddim_timesteps, linear_beta_schedule, timestep_embedding

TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not TORCH, reason="PyTorch (optional extra mmsold[baselines]) is not installed")


def test_schedule_against_direct_product():
    abar = linear_beta_schedule(50, 1e-3, 0.05)
    betas = [1e-3 + (0.05 - 1e-3) * k / 49 for k in range(50)]
    ref, acc = [], 1.0
    for b in betas:
        acc *= 1 - b
        ref.append(acc)
    assert np.allclose(abar, ref, rtol=1e-12)


def test_timesteps_decreasing_unique_and_span():
    ts = ddim_timesteps(1000, 100)
    assert len(ts) == 100 and ts[0] == 999 and ts[-1] == 0 and np.all(np.diff(ts) < 0)
    assert np.array_equal(ddim_timesteps(10, 10), np.arange(10)[::-1])


def test_embedding_shape_and_range():
    e = timestep_embedding(np.arange(7), 1000, 16)
    assert e.shape == (7, 16) and np.all(np.abs(e) <= 1)
    assert np.allclose(e[:, :8] ** 2 + e[:, 8:] ** 2, 1)


def test_ddim_step_with_true_noise_is_exact():
    rng = np.random.default_rng(0)
    abar = linear_beta_schedule(1000)
    x0, eps = rng.standard_normal((8, 3)), rng.standard_normal((8, 3))
    xt = np.sqrt(abar[700]) * x0 + np.sqrt(1 - abar[700]) * eps
    assert np.allclose(ddim_step(xt, eps, abar[700], abar[100]),
                       np.sqrt(abar[100]) * x0 + np.sqrt(1 - abar[100]) * eps, atol=1e-12)
    assert np.allclose(ddim_step(xt, eps, abar[700], 1.0), x0, atol=1e-10)


@pytest.mark.parametrize("s", [0.3, 2.0])
def test_ddim_with_exact_gaussian_predictor_recovers_scale(s):
    abar = linear_beta_schedule(1000)
    eps_fn = lambda x, t: np.sqrt(1 - abar[t]) * x / (abar[t] * s**2 + 1 - abar[t])
    out = ddim_sample(eps_fn, np.random.default_rng(1).standard_normal((20000, 2)), abar, ddim_timesteps(1000, 1000))
    # Monte Carlo sd of the std estimate ~ 0.5%; 1000 DDIM steps make the discretisation error negligible
    assert np.allclose(out.std(0), s, rtol=0.02)


def test_bad_parameters_are_rejected_before_torch_is_needed():
    with pytest.raises(ValueError):
        DDPM(n_iter=0).fit(np.zeros((5, 2)))
    with pytest.raises(ValueError):
        DDPM(n_sample_steps=2000).fit(np.zeros((5, 2)))
    with pytest.raises(ValueError):
        DDPM().fit(np.array([[np.inf, 0.0], [0.0, 0.0]]))
    with pytest.raises(RuntimeError):
        DDPM().sample(3)


def test_missing_torch_gives_clear_message(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="mmsold\\[baselines\\]"):
        DDPM(n_iter=2).fit(np.random.default_rng(0).standard_normal((10, 2)))


@needs_torch
def test_training_reduces_loss_learns_scale_and_is_reproducible():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((500, 2)) * np.array([3.0, 0.5]) + np.array([1.0, -2.0])
    m = DDPM(hidden=32, n_layers=2, n_iter=400, n_sample_steps=50, random_state=0).fit(X)
    assert m.fit_seconds_ > 0 and m.loss_[-50:].mean() < m.loss_[:50].mean()
    Z = m.sample(2000, random_state=1)
    assert m.sample_seconds_ > 0
    # Gaussian data is easy: the sample's mean and std must be close to the data's (a few percent of
    # the scale: training is short and DDIM with 50 steps shrinks the spread slightly)
    assert np.allclose(Z.mean(0), X.mean(0), atol=0.25 * X.std(0))
    assert np.allclose(Z.std(0), X.std(0), rtol=0.2)
    m2 = DDPM(hidden=32, n_layers=2, n_iter=400, n_sample_steps=50, random_state=0).fit(X)
    assert np.array_equal(m.loss_, m2.loss_)
    assert np.array_equal(Z, m2.sample(2000, random_state=1))


def test_clip_is_noop_inside_and_bounds_the_final_prediction():
    rng = np.random.default_rng(3)
    abar = linear_beta_schedule(1000)
    x, eps = rng.standard_normal((50, 2)), rng.standard_normal((50, 2))
    assert np.allclose(ddim_step(x, eps, abar[10], abar[5], clip=1e6), ddim_step(x, eps, abar[10], abar[5]))
    out = ddim_step(x * 10, eps, abar[500], 1.0, clip=2.0)   # last step returns the clipped x0
    x0 = (x * 10 - np.sqrt(1 - abar[500]) * eps) / np.sqrt(abar[500])
    assert np.allclose(out, np.clip(x0, -2, 2))


def test_toy_data_lie_inside_the_default_clip():
    from mmsold.datasets import TOY_DATASETS
    for name, f in TOY_DATASETS.items():
        X = f(5000, random_state=0)
        Xs = (X - X.mean(0)) / X.std(0)
        assert np.abs(Xs).max() < DDPM().clip_x0, name


def test_stop_rule_against_a_direct_loop():
    from mmsold.ddpm import _stop_rule
    rng = np.random.default_rng(4)
    for _ in range(200):
        h = list(rng.uniform(0.5, 1.0, rng.integers(1, 12)))
        patience, tol = int(rng.integers(1, 4)), float(rng.choice([0.0, 0.01, 0.1]))
        # direct: stop iff there are more than `patience` values and none of the last `patience` improves
        # on the best before them by the relative tolerance
        expect = len(h) > patience and all(v >= (1 - tol) * min(h[:-patience]) for v in h[-patience:])
        assert _stop_rule(h, patience, tol) == expect


def test_convergence_parameters_are_validated():
    X = np.zeros((10, 2))
    for kw in (dict(val_fraction=0.9), dict(ema_decay=1.0), dict(tol=1.5), dict(patience=0),
               dict(lr_schedule="step"), dict(val_fraction=0.01)):
        with pytest.raises(ValueError):
            DDPM(n_iter=2, **kw).fit(np.random.default_rng(0).standard_normal((10, 2)) if "val" in str(kw) else X)


@needs_torch
def test_defaults_keep_the_fixed_budget_behaviour():
    X = np.random.default_rng(5).standard_normal((200, 2))
    m = DDPM(hidden=16, n_layers=1, n_iter=30, n_sample_steps=5, random_state=0).fit(X)
    assert m.n_iter_ == 30 and len(m.loss_) == 30 and len(m.val_loss_) == 0 and not m.stopped_early_


@needs_torch
def test_ema_with_zero_decay_is_the_plain_model():
    # beta = 0 makes the EMA equal to the current weights after every step: same network as without EMA
    X = np.random.default_rng(6).standard_normal((300, 2))
    kw = dict(hidden=16, n_layers=2, n_iter=60, n_sample_steps=10, random_state=1)
    a, b = DDPM(**kw).fit(X), DDPM(ema_decay=0.0, **kw).fit(X)
    assert np.array_equal(a.loss_, b.loss_)
    assert np.array_equal(a.sample(50, random_state=2), b.sample(50, random_state=2))
    c = DDPM(ema_decay=0.9, **kw).fit(X)   # a real EMA changes the sampled network, not the training path
    assert np.array_equal(a.loss_, c.loss_)
    assert not np.array_equal(a.sample(50, random_state=2), c.sample(50, random_state=2))


@needs_torch
def test_early_stopping_stops_when_nothing_improves_and_is_seeded():
    X = np.random.default_rng(7).standard_normal((300, 2))
    # tol = 0.99: no evaluation can improve by 99%, so with patience 1 training stops after 2 evaluations
    kw = dict(hidden=16, n_layers=2, n_iter=1000, eval_every=20, patience=1, tol=0.99, val_fraction=0.2,
              n_sample_steps=10, random_state=3)
    m = DDPM(**kw).fit(X)
    assert m.stopped_early_ and m.n_iter_ == 40 and list(m.val_iters_) == [20, 40]
    assert m.best_iter_ == m.val_iters_[int(np.argmin(m.val_loss_))]
    m2 = DDPM(**kw).fit(X)
    assert np.array_equal(m.val_loss_, m2.val_loss_)
    assert np.array_equal(m.sample(20, random_state=0), m2.sample(20, random_state=0))
    # without a reachable stop, the budget is the limit
    m3 = DDPM(**{**kw, "tol": 0.0, "patience": 100, "n_iter": 60}).fit(X)
    assert not m3.stopped_early_ and m3.n_iter_ == 60 and list(m3.val_iters_) == [20, 40, 60]


def test_fourier_feature_map_against_a_direct_loop():
    from mmsold.ddpm import fourier_features
    rng = np.random.default_rng(8)
    x, B = rng.standard_normal((6, 3)), rng.normal(0, 2.0, (3, 4))
    F = fourier_features(x, B)
    for i in range(6):
        for k in range(4):
            z = 2 * np.pi * sum(x[i, j] * B[j, k] for j in range(3))
            assert np.isclose(F[i, k], np.sin(z)) and np.isclose(F[i, 4 + k], np.cos(z))


def test_fourier_parameters_are_validated_before_torch_is_needed():
    X = np.zeros((10, 2))
    with pytest.raises(ValueError):
        DDPM(fourier_features=-1).fit(X)
    with pytest.raises(TypeError):
        DDPM(fourier_features=2.5).fit(X)
    for bad in (0.0, -1.0, np.inf):
        with pytest.raises(ValueError):
            DDPM(fourier_features=4, fourier_scale=bad).fit(X)


def test_explicit_validation_rows_are_validated():
    X = np.random.default_rng(9).standard_normal((20, 2))
    with pytest.raises(ValueError, match="not both"):
        DDPM(val_fraction=0.2).fit(X, X_val=X[:5])
    with pytest.raises(ValueError, match="columns"):
        DDPM().fit(X, X_val=np.zeros((5, 3)))
    with pytest.raises(ValueError):
        DDPM().fit(X, X_val=np.full((5, 2), np.nan))


@needs_torch
def test_fourier_frequencies_are_a_function_of_the_seed():
    X = np.random.default_rng(10).standard_normal((100, 2))
    kw = dict(hidden=8, n_layers=1, n_iter=2, n_sample_steps=2, fourier_features=1000, fourier_scale=3.0)
    a, b, c = DDPM(random_state=0, **kw).fit(X), DDPM(random_state=0, **kw).fit(X), DDPM(random_state=1, **kw).fit(X)
    assert a.fourier_B_.shape == (2, 1000)
    assert np.array_equal(a.fourier_B_, b.fourier_B_) and not np.allclose(a.fourier_B_, c.fourier_B_)
    # 2,000 N(0, 3^2) draws: the sd of their sample sd is 3/sqrt(4000) ~ 0.05, so 0.25 is 5 sds
    assert abs(a.fourier_B_.std() - 3.0) < 0.25 and abs(a.fourier_B_.mean()) < 0.35
    assert np.array_equal(a.sample(10, random_state=4), b.sample(10, random_state=4))
    # the first layer sees [x, sin, cos, emb]; without Fourier features just [x, emb]
    assert a.net_[0].in_features == 2 + 2 * 1000 + a.emb_dim
    d = DDPM(random_state=0, **{**kw, "fourier_features": 0}).fit(X)
    assert d.fourier_B_ is None and d.net_[0].in_features == 2 + d.emb_dim


@needs_torch
def test_fourier_network_is_the_mlp_on_the_mapped_input():
    from mmsold.ddpm import fourier_features, timestep_embedding
    import torch
    X = np.random.default_rng(11).standard_normal((100, 2))
    m = DDPM(hidden=8, n_layers=1, n_iter=3, n_sample_steps=2, fourier_features=5, random_state=0).fit(X)
    x, t = np.random.default_rng(12).standard_normal((7, 2)), np.arange(7) * 100
    inp = np.concatenate([x, fourier_features(x, m.fourier_B_), timestep_embedding(t, 1000, m.emb_dim)], axis=1)
    with torch.no_grad():
        direct = m.net_(torch.from_numpy(inp)).numpy()
        via = m.net_(m._inputs(torch, torch.from_numpy(x), m.emb_table_[torch.from_numpy(t)])).numpy()
    assert np.allclose(direct, via, atol=1e-12)


@needs_torch
def test_explicit_validation_rows_train_on_all_of_X():
    rng = np.random.default_rng(13)
    X, V = rng.standard_normal((200, 2)), rng.standard_normal((50, 2))
    m = DDPM(hidden=8, n_layers=1, n_iter=40, eval_every=10, patience=100, n_sample_steps=2,
             random_state=0).fit(X, X_val=V)
    assert np.allclose(m.mean_, X.mean(0)) and len(m.val_loss_) == 4   # no row of X was held out
    m2 = DDPM(hidden=8, n_layers=1, n_iter=40, eval_every=10, patience=100, n_sample_steps=2,
              random_state=0).fit(X, X_val=V[:10])
    assert not np.array_equal(m.val_loss_, m2.val_loss_)   # the given rows are what is evaluated
