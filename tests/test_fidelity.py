"""The large-data fidelity: trials score on a seeded sample of the rows, the program
reproduces that score, and the final pipeline is fitted on all rows.

The real threshold is 125,000 rows; these tests lower it so a small table exercises the
same code paths (the engine reads it when it chooses the protocol).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

import text2ml_jupyter
from text2ml_jupyter import evaluation as evaluation_module
from text2ml_jupyter._runfolder import RunFolder
from text2ml_jupyter._shipping import read_frame
from text2ml_jupyter._refit import refit_scale
from text2ml_jupyter.engine import default_workers, ship_data
from text2ml_jupyter.evaluation import Evaluation, choose_evaluation
from text2ml_jupyter.spec import infer_spec, training_data


def _table(rows: int, seed: int = 0) -> pd.DataFrame:
    X, y = make_classification(n_samples=rows, n_features=6, n_informative=4,
                               random_state=seed)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    frame["label"] = np.where(y == 1, "yes", "no")
    return frame


def test_choose_evaluation_samples_only_large_data(monkeypatch) -> None:
    y = pd.Series(np.arange(3000) % 2)
    assert choose_evaluation(y, classification=True).sample_rows is None
    monkeypatch.setattr(evaluation_module, "_SAMPLE_ROWS", 1000)
    chosen = choose_evaluation(y, classification=True, seed=4)
    assert chosen.sample_rows == 1000
    assert "of a 1,000-row sample" in chosen.describe()
    assert Evaluation(**chosen.to_dict()) == chosen  # survives the run folder


def test_sampled_data_gets_one_worker_with_a_thread_per_core(monkeypatch, tmp_path) -> None:
    """Where trials score on a sample, one worker with a thread per core (its memory, not
    the cores, is what a second worker would cost); elsewhere, and whenever the caller
    names n_workers, single-threaded workers."""
    from text2ml_jupyter.sandbox import WorkerPool

    assert default_workers(125_000, cores=2) == (2, 1)
    assert default_workers(125_001, cores=2) == (1, 2)
    assert default_workers(10, cores=32) == (8, 1)
    assert default_workers(10**6, cores=32) == (1, 8)
    monkeypatch.setattr(evaluation_module, "_SAMPLE_ROWS", 500)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    started = []

    class Started(Exception):
        pass

    def start(pool, n_workers, scratch, limits):
        started.append((n_workers, limits.threads))
        raise Started

    monkeypatch.setattr(WorkerPool, "__init__", start)
    for rows, n_workers in ((1500, None), (1500, 2), (300, None)):
        with pytest.raises(Started):
            text2ml_jupyter.run("Predict label.", _table(rows), time_budget=10,
                                run_dir=tmp_path, n_workers=n_workers)
    assert started == [(1, 2), (2, 1), (2, 1)]


def test_shipped_sample_is_the_programs_sample(tmp_path) -> None:
    frame = _table(900)
    frame.loc[[3, 50, 400], "label"] = None  # rows without a target are not sampled
    spec = infer_spec("Predict label.", frame, target="label")
    evaluation = Evaluation(n_splits=1, stratified=True, seed=11, holdout=True,
                            sample_rows=300)
    folder = RunFolder.create(tmp_path, "run-1")
    job = ship_data(frame, folder, spec, evaluation)
    assert job["data_path"] != job["refit_data_path"]
    shipped = training_data(spec, read_frame(job["data_path"]))
    expected = evaluation.sample(*training_data(spec, frame))
    # what the program does: X.sample(n, random_state=seed) on all usable rows
    pd.testing.assert_frame_equal(shipped[0], expected[0])
    pd.testing.assert_series_equal(shipped[1], expected[1])
    assert len(read_frame(job["refit_data_path"])) == len(frame)
    # sampling the shipped sample again is the identity (a worker may get either file)
    again = evaluation.sample(*shipped)
    pd.testing.assert_frame_equal(again[0], shipped[0])


def test_small_data_ships_one_file(tmp_path) -> None:
    frame = _table(200)
    spec = infer_spec("Predict label.", frame, target="label")
    evaluation = choose_evaluation(frame["label"], classification=True)
    job = ship_data(frame, RunFolder.create(tmp_path, "run-1"), spec, evaluation)
    assert job["data_path"] == job["refit_data_path"]


def test_refit_scale_counts_the_sample() -> None:
    holdout = Evaluation(n_splits=1, stratified=True, holdout=True, sample_rows=100_000)
    assert refit_scale(holdout, 1_000_000) == pytest.approx(10 / 0.8)
    assert refit_scale(Evaluation(n_splits=5, stratified=True), 900) == pytest.approx(1.25)


def test_run_on_a_sample_reproduces_and_refits_on_all_rows(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(evaluation_module, "_SAMPLE_ROWS", 500)
    frame = _table(1500, seed=3)
    result = text2ml_jupyter.run("Predict label. Optimize accuracy.", frame, time_budget=15,
                                 run_dir=tmp_path, data_name="table", seed=2)
    assert result.evaluation.sample_rows == 500
    assert "X_eval, y_eval = X.sample(n=500, random_state=2)" in result.code
    assert result.n_trials >= 1
    namespace = {"table": frame}
    exec(compile(result.code, "<program>", "exec"), namespace)  # noqa: S102 - our program
    # the program's validation (on the same sample) reproduces the search's best score
    assert float(namespace["scores"].mean()) == pytest.approx(result.best_score, abs=1e-9)
    # the program's final fit is on all rows; the engine's refit gives the same model
    fitted = namespace["pipeline"]
    rows = frame.drop(columns=["label"])
    np.testing.assert_array_equal(result.pipeline.predict(rows), fitted.predict(rows))
    np.testing.assert_allclose(result.pipeline.predict_proba(rows),
                               fitted.predict_proba(rows))


@pytest.mark.parametrize("rows, sampled", [(1500, True), (300, False)])
def test_the_caller_imports_for_loading_after_the_refit_on_sampled_data(
        monkeypatch, tmp_path, rows: int, sampled: bool) -> None:
    """On a sample of large data the refit's worker holds all rows (the memory peak): the
    caller does not import scikit-learn for loading during the search, only when it loads
    the fitted pipeline, and the refit gets a fresh worker, forked before the fork server
    stops; on small data the caller imports it while the search runs, and a search worker
    stays for the refit."""
    from text2ml_jupyter import engine as engine_module
    from text2ml_jupyter import search as search_module
    from text2ml_jupyter.sandbox import WorkerPool

    kept: list[int] = []  # retire_idle(keep=...) calls, the first one before the refit
    real_retire = WorkerPool.retire_idle

    def recording_retire(self, keep: int = 1) -> None:
        kept.append(keep)
        real_retire(self, keep)

    monkeypatch.setattr(WorkerPool, "retire_idle", recording_retire)
    from text2ml_jupyter import _forkserver

    order: list[str] = []  # the refit's worker is forked, then the fork server stops
    real_warm, real_shutdown = WorkerPool.warm, _forkserver.shutdown
    monkeypatch.setattr(WorkerPool, "warm",
                        lambda self, *a, **k: order.append("fork") or real_warm(self, *a, **k))
    monkeypatch.setattr(_forkserver, "shutdown",
                        lambda: order.append("stop server") or real_shutdown())

    calls: list[str] = []
    monkeypatch.setattr(evaluation_module, "_SAMPLE_ROWS", 500)
    monkeypatch.setattr(engine_module, "preload_in_background", lambda: calls.append("preload"))
    loads: list[float] = []
    real_init = search_module.Search.__init__

    def recording_init(self, *args, **kwargs) -> None:
        real_init(self, *args, **kwargs)
        loads.append(self.load_seconds)

    monkeypatch.setattr(search_module.Search, "__init__", recording_init)
    result = text2ml_jupyter.run("Predict label. Optimize accuracy.", _table(rows, seed=3),
                                 time_budget=12, run_dir=tmp_path, seed=2)
    assert bool(result.evaluation.sample_rows) is sampled
    assert result.n_trials >= 1 and result.pipeline is not None
    if sampled:
        assert calls == [] and loads == [engine_module.PRELOAD_SECONDS] and kept[0] == 0
        assert order[-2:] == ["fork", "stop server"]
    else:
        assert calls and loads == [0.0] and kept[0] == 1
        assert "stop server" not in order
    assert kept[-1] == 0  # the refit's worker exits before the pipeline is loaded


def test_refit_prefers_the_best_trial_that_can_be_refitted_in_time() -> None:
    from types import SimpleNamespace

    from text2ml_jupyter._refit import refit_in_time
    from text2ml_jupyter.search import Budget, expected_refit_seconds

    def trial(number: int, fit: float) -> SimpleNamespace:
        return SimpleNamespace(number=number, user_attrs={"fit_seconds": fit})

    # the estimate grows faster than the rows, with a margin
    assert expected_refit_seconds(2.0, 1.0) == pytest.approx(3.0)
    assert expected_refit_seconds(2.0, 10.0) > 10 * 3.0
    budget = Budget(60.0)  # about 60 s left
    best, quick, slow = trial(4, 3.0), trial(7, 1.0), trial(9, 20.0)
    notes: list[str] = []
    assert refit_in_time([best, quick], budget, 2.0, notes) == [best, quick]
    assert notes == []
    # the best would need ~67 s: the next best that fits comes first, with a note
    assert refit_in_time([slow, best, quick], budget, 2.0, notes)[0] is best
    assert "about 67 s" in notes[0] and "trial 4's" in notes[0]
    # none fits: the quickest to refit
    assert refit_in_time([slow, best], budget, 100.0, [])[0] is best
    assert refit_in_time([], budget, 1.0, []) == []
    # none fits and the best is the quickest: refitted anyway, and the note says so
    notes = []
    assert refit_in_time([best, slow], budget, 100.0, notes) == [best, slow]
    assert "refitted anyway" in notes[0] and "instead" not in notes[0]


def test_a_refit_too_long_for_the_budget_fits_on_the_sample(monkeypatch, tmp_path) -> None:
    from text2ml_jupyter import _refit

    monkeypatch.setattr(evaluation_module, "_SAMPLE_ROWS", 500)
    # every refit on all rows looks far too long: the engine must fit on the sample
    monkeypatch.setattr(_refit, "expected_refit_seconds", lambda fit, scale, **_: 1e6)
    frame = _table(1500, seed=5)
    result = text2ml_jupyter.run("Predict label. Optimize accuracy.", frame, time_budget=12,
                                 run_dir=tmp_path, data_name="table", seed=1)
    assert any("fitted on the 500-row sample" in note for note in result.notes)
    namespace = {"table": frame}
    exec(compile(result.code, "<program>", "exec"), namespace)  # noqa: S102 - our program
    sample_fit = namespace["pipeline"].fit(namespace["X_eval"], namespace["y_eval"])
    rows = frame.drop(columns=["label"])
    np.testing.assert_allclose(result.pipeline.predict_proba(rows),
                               sample_fit.predict_proba(rows))
