"""mmsold.model_selection: the scoring rule, BandwidthSearch's selection and seeding, resuming after SIGKILL, Dask."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from joblib import parallel_config

from mmsold.datasets import load_toy, split
from mmsold.metrics import memorisation_report, sliced_wasserstein
from mmsold.model_selection import BandwidthSearch, cell_seed, memorisation_ok, validation_score
from mmsold.sampler import MMSOLD

ROOT = Path(__file__).resolve().parents[1]
# the search every resume test runs: 12 cells on a small checkerboard (the same text runs in the subprocess)
SETUP = """
import numpy as np
from mmsold.datasets import load_toy
from mmsold.model_selection import BandwidthSearch
from mmsold.sampler import MMSOLD
X = load_toy("checkerboard", 200, random_state=0)
GRID = {"delta": [0.1, 0.2, 0.3], "sigma": [0.0, 0.1], "step_fraction": [0.1, 0.3]}
def make(path=None, **kw):
    return BandwidthSearch(MMSOLD(n_steps=15, n_neighbors=16, n_noise=2), GRID, validation=0.3, n_samples=60,
                           scoring_params={"n_projections": 32}, results_path=path, random_state=3, **kw)
"""
N_CELLS = 12
ns: dict = {}
exec(SETUP, ns)


def same_results(a, b):
    ra, rb = a.cv_results_, b.cv_results_
    assert ra["params"] == rb["params"]
    for c in ("validation_score", "memorisation", "memorisation_ref", "step_size"):
        np.testing.assert_array_equal(ra[c], rb[c])
    np.testing.assert_array_equal(ra["eligible"], rb["eligible"])
    np.testing.assert_array_equal(ra["rank_validation_score"], rb["rank_validation_score"])
    assert a.best_params_ == b.best_params_ and a.best_score_ == b.best_score_


@pytest.fixture(scope="module")
def reference():
    "The uninterrupted serial search, without a results file."
    return ns["make"]().fit(ns["X"])


def cell_lines(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()[1:]]


def test_selection_rule_and_a_cell_recomputed_by_hand(reference):
    r = reference.cv_results_
    X = ns["X"]
    # best = lowest score among cells passing the guard (recomputed from the table)
    el = r["eligible"]
    pool = np.flatnonzero(el) if el.any() else np.arange(len(el))
    assert reference.best_index_ == pool[np.argmin(r["validation_score"][pool])]
    assert r["rank_validation_score"][reference.best_index_] == 1
    assert sorted(r["rank_validation_score"]) == list(range(1, N_CELLS + 1))
    # one cell by hand with the documented recipe (split seed, cell seed, step fraction, scoring seed)
    i = 7
    p = r["params"][i]
    Xtr, Xv = split(X, 0.3, random_state=int(np.random.SeedSequence(3, spawn_key=(0,)).generate_state(1)[0]))
    m = MMSOLD(n_steps=15, n_neighbors=16, n_noise=2, delta=p["delta"], sigma=p["sigma"],
               random_state=cell_seed(3, p)).fit(Xtr)
    m.set_params(step_size=p["step_fraction"] * m.stability_bound_).fit(Xtr)
    Z = m.sample(60)
    assert sliced_wasserstein(Z, Xv, 32, random_state=3) == r["validation_score"][i]
    rep = memorisation_report(Z, Xtr, Xv)
    assert r["eligible"][i] == (rep["share"] <= max(2 * rep["share_heldout"], rep["share_heldout"] + 0.05))
    # refit on all of X with the best parameters
    b = reference.best_estimator_
    assert np.array_equal(b.X_train_, X) and b.delta == reference.best_params_["delta"]
    assert b.step_size == pytest.approx(reference.best_params_["step_fraction"] * b.stability_bound_, rel=1e-15)


def test_independent_of_n_jobs_and_grid_order(reference):
    g = {"step_fraction": [0.3, 0.1], "sigma": [0.1, 0.0], "delta": [0.3, 0.2, 0.1]}
    with parallel_config(backend="threading"):  # cells finish out of order; processes are covered by the Dask test
        s = BandwidthSearch(MMSOLD(n_steps=15, n_neighbors=16, n_noise=2), g, validation=0.3, n_samples=60,
                            scoring_params={"n_projections": 32}, n_jobs=2, random_state=3).fit(ns["X"])
    key = lambda p: tuple(sorted(p.items()))  # noqa: E731
    got = {key(p): v for p, v in zip(s.cv_results_["params"], s.cv_results_["validation_score"])}
    assert all(got[key(p)] == v for p, v in zip(reference.cv_results_["params"], reference.cv_results_["validation_score"]))
    assert s.best_params_ == reference.best_params_


def test_resume_after_sigkill_equals_uninterrupted(tmp_path, reference):
    path = tmp_path / "grid.jsonl"
    # the child is the same search with each cell slowed down (same results), killed after 2 cells are on disk
    code = SETUP + f"""
import time, mmsold.model_selection as ms
_run = ms._run_cell
def slow(*a, **k):
    out = _run(*a, **k); time.sleep(0.4); return out
ms._run_cell = slow
make({str(path)!r}).fit(X)
"""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            if path.exists() and path.read_text().count("\n") >= 3:  # header + 2 cells
                break
            time.sleep(0.01)
        assert proc.poll() is None, f"the search ended before it was killed: {proc.stderr.read().decode()[-2000:]}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    done = len(cell_lines(path))
    assert 2 <= done < N_CELLS
    s = ns["make"](path).fit(ns["X"])
    assert s.n_resumed_ == done and s.cv_results_["resumed"].sum() == done
    same_results(s, reference)
    lines = cell_lines(path)
    assert len(lines) == N_CELLS and len({r["key"] for r in lines}) == N_CELLS
    # a third run computes nothing
    assert ns["make"](path).fit(ns["X"]).n_resumed_ == N_CELLS


def test_half_written_last_line_is_dropped_and_repaired(tmp_path, reference):
    path = tmp_path / "grid.jsonl"
    ns["make"](path).fit(ns["X"])
    text = path.read_text().splitlines(keepends=True)
    cut = text[-1][: len(text[-1]) // 2]  # killed in the middle of writing the last cell
    path.write_text("".join(text[:-1]) + cut)
    s = ns["make"](path).fit(ns["X"])
    assert s.n_resumed_ == N_CELLS - 1
    same_results(s, reference)
    lines = path.read_text().splitlines()
    assert len(lines) == N_CELLS + 1 and all(json.loads(line) for line in lines)  # repaired: every line is whole


def test_damaged_middle_line_and_changed_arguments_are_refused(tmp_path):
    path = tmp_path / "grid.jsonl"
    small = lambda **kw: BandwidthSearch(MMSOLD(n_steps=5, n_neighbors=8), {"delta": [0.1, 0.2]}, validation=0.3,  # noqa: E731
                                         n_samples=30, scoring_params={"n_projections": 8}, results_path=path,
                                         random_state=1, **kw)
    X = ns["X"]
    small().fit(X)
    with pytest.raises(ValueError, match="different fixed arguments.*n_samples"):
        BandwidthSearch(MMSOLD(n_steps=5, n_neighbors=8), {"delta": [0.1, 0.2]}, validation=0.3, n_samples=31,
                        scoring_params={"n_projections": 8}, results_path=path, random_state=1).fit(X)
    with pytest.raises(ValueError, match="different fixed arguments.*estimator_params"):
        BandwidthSearch(MMSOLD(n_steps=6, n_neighbors=8), {"delta": [0.1, 0.2]}, validation=0.3, n_samples=30,
                        scoring_params={"n_projections": 8}, results_path=path, random_state=1).fit(X)
    with pytest.raises(ValueError, match="different fixed arguments.*X"):
        small().fit(X + 1.0)
    # NaN as error_score is a fixed argument like any other: the same NaN resumes
    nan_path = tmp_path / "nan.jsonl"
    for expected in (0, 2):
        s = BandwidthSearch(MMSOLD(n_steps=5, n_neighbors=8), {"delta": [0.1, 0.2]}, validation=0.3, n_samples=30,
                            scoring_params={"n_projections": 8}, error_score=np.nan, results_path=nan_path,
                            random_state=1).fit(X)
        assert s.n_resumed_ == expected
    # extending the grid with the same fixed arguments resumes the old cells
    more = BandwidthSearch(MMSOLD(n_steps=5, n_neighbors=8), {"delta": [0.1, 0.2, 0.3]}, validation=0.3, n_samples=30,
                           scoring_params={"n_projections": 8}, results_path=path, random_state=1).fit(X)
    assert more.n_resumed_ == 2
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + "{not json\n" + "".join(lines[1:]))
    with pytest.raises(ValueError, match="damaged"):
        small().fit(X)
    path.write_text('{"kind": "cell"}\n')
    with pytest.raises(ValueError, match="header"):
        small().fit(X)


class CopyingSampler:
    "Returns training points: the memorisation guard must reject it (module level so it pickles)."

    def __init__(self, jitter=1e-3, random_state=None):
        self.jitter, self.random_state = jitter, random_state

    def get_params(self, deep=True):
        return {"jitter": self.jitter, "random_state": self.random_state}

    def set_params(self, **p):
        for k, v in p.items():
            setattr(self, k, v)
        return self

    def fit(self, X):
        self.X_ = np.asarray(X)
        return self

    def sample(self, n):
        rng = np.random.default_rng(self.random_state)
        return self.X_[rng.integers(0, len(self.X_), n)] + self.jitter * rng.standard_normal((n, self.X_.shape[1]))


def test_guard_rejects_copies_and_falls_back_when_none_pass():
    X = ns["X"]
    s = BandwidthSearch(CopyingSampler(), {"jitter": [1e-4, 1e-3]}, validation=0.3, n_jobs=1, random_state=0).fit(X)
    assert not s.cv_results_["eligible"].any() and s.selection_fallback_
    assert s.best_score_ == s.cv_results_["validation_score"].min()
    assert (s.cv_results_["memorisation"] > 0.9).all()
    # guard off: the same cells are eligible
    s2 = BandwidthSearch(CopyingSampler(), {"jitter": [1e-4, 1e-3]}, validation=0.3, guard=False, random_state=0).fit(X)
    assert s2.cv_results_["eligible"].all() and not s2.selection_fallback_
    assert memorisation_ok(0.1, 0.1) and memorisation_ok(0.15, 0.1) and not memorisation_ok(0.21, 0.1)
    assert memorisation_ok(0.04, 0.01) and not memorisation_ok(0.07, 0.01)


def test_failing_cells_are_recorded_or_raised():
    X = ns["X"]
    grid = {"jitter": [1e-1, "not a number"]}  # the second cell raises inside sample()
    with pytest.warns(RuntimeWarning, match="failed"):
        s = BandwidthSearch(CopyingSampler(), grid, validation=0.3, random_state=0).fit(X)
    r = s.cv_results_
    assert r["error"][0] is None and r["error"][1].startswith(("TypeError", "UFuncTypeError"))
    assert np.isinf(r["validation_score"][1]) and not r["eligible"][1]
    assert s.best_params_ == {"jitter": 1e-1}
    with pytest.raises(TypeError):
        BandwidthSearch(CopyingSampler(), grid, validation=0.3, error_score="raise", random_state=0).fit(X)


def test_kid_scoring_and_held_out_array():
    X = ns["X"]
    Xtr, Xv = X[:140], X[140:]
    s = BandwidthSearch(MMSOLD(n_steps=10, n_neighbors=8), {"sigma": [0.0, 0.1]}, scoring="kid", validation=Xv,
                        scoring_params={"n_subsets": 5, "subset_size": 50}, random_state=0).fit(Xtr)
    assert np.isfinite(s.cv_results_["validation_score"]).all()
    assert np.array_equal(s.best_estimator_.X_train_, Xtr)
    r = validation_score(Xv[:30], Xtr, Xv, scoring="kid", scoring_params={"n_subsets": 5, "subset_size": 30})
    assert set(r) == {"score", "memorisation", "memorisation_ref", "eligible"}
    with pytest.raises(ValueError, match="not options"):
        validation_score(Xv, Xtr, Xv, scoring="kid", scoring_params={"n_projections": 3})


@pytest.mark.parametrize("kw, exc, match", [
    (dict(param_grid={"bandwidth": [1]}), ValueError, "not a parameter"),
    (dict(param_grid={"delta": []}), ValueError, "non-empty list"),
    (dict(param_grid={"delta": 0.1}), ValueError, "non-empty list"),
    (dict(param_grid=[]), TypeError, "param_grid"),
    (dict(param_grid={"step_fraction": [0.1], "step_size": [0.1]}), ValueError, "both"),
    (dict(param_grid={"step_fraction": [-1]}), ValueError, "positive"),
    (dict(scoring="fid"), ValueError, "scoring"),
    (dict(validation=0.0), ValueError, "validation"),
    (dict(validation=np.zeros((4, 3))), ValueError, "validation"),
    (dict(seeding="global"), ValueError, "seeding"),
    (dict(random_state=-1), TypeError, "random_state"),
    (dict(random_state=1.5), TypeError, "random_state"),
    (dict(random_state=None, results_path="never_written.jsonl"), ValueError, "integer random_state"),
    (dict(n_samples=0), ValueError, "n_samples"),
    (dict(error_score="ignore"), ValueError, "error_score"),
    (dict(estimator=object()), TypeError, "estimator"),
])
def test_bad_arguments_refused_before_work(kw, exc, match, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = dict(estimator=MMSOLD(n_steps=5), param_grid={"delta": [0.1]})
    args.update(kw)
    with pytest.raises(exc, match=match):
        BandwidthSearch(**args).fit(ns["X"])
    assert not (tmp_path / "never_written.jsonl").exists()


def test_dask_backend_equals_serial(reference):
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed (pip install 'dask[distributed]')")
    from mmsold.ensembles import sample_ensembles
    X = ns["X"]
    m = MMSOLD(delta=0.2, sigma=0.1, n_steps=10, n_neighbors=16, n_noise=2).fit(X)
    Z_serial = sample_ensembles(m, 3, 30, n_jobs=1, random_state=4)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with parallel_config(backend="dask"):
            Z_dask = sample_ensembles(m, 3, 30, n_jobs=-1, random_state=4)
            s = ns["make"](n_jobs=-1).fit(X)
        workers = client.run(os.getpid)
    assert len(workers) == 2 and os.getpid() not in workers.values()
    assert np.array_equal(Z_serial, Z_dask)
    same_results(s, reference)
