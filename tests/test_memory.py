"""What keeps a large run's memory down: the data shipped as a shared float64 mapping
(_shipping.py), a copy-free preprocess for trees on large numeric data, the boosting refit
without a held-out split, and no second copy of the fitted pipeline in the caller."""

from __future__ import annotations

import dataclasses
import gc
import mmap
import os
import pickle
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cloudpickle
import numpy as np
import pandas as pd
import pytest

import text2ml_jupyter
from text2ml_jupyter._building import DefaultTrial, build_parts
from text2ml_jupyter._lean import without_scaling
from text2ml_jupyter._refit import (_fixed_iterations, expected_refit, refit_program,
                                    with_settings)
from text2ml_jupyter._runfolder import RunFolder
from text2ml_jupyter._shipping import (
    PARTS_SUFFIX,
    read_frame,
    released_once_binned,
    write_frame,
)
from text2ml_jupyter.engine import ship_data
from text2ml_jupyter.errors import CandidateError
from text2ml_jupyter.evaluation import Evaluation, choose_evaluation
from text2ml_jupyter.providers import GenerationContext
from text2ml_jupyter.providers.offline import OfflineProvider
from text2ml_jupyter.sandbox import WorkerContext
from text2ml_jupyter.search import (
    _malloc_trim,
    boosting_iterations,
    expected_refit_seconds,
    holds_trees,
    release_memory,
    score_folds,
)
from text2ml_jupyter.slots import SLOTS, SLOTS_BY_NAME
from text2ml_jupyter.spec import infer_spec, training_data


def _mixed(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """Mostly numbers (float, int counts, an int-coded category), plus a bool, a string
    category, text, and an int32 target; a few missing numbers."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(6)})
    frame["count"] = rng.integers(0, 40, rows)  # int, numeric role
    frame["grade"] = rng.integers(1, 4, rows)  # int, categorical role (given below)
    frame["flag"] = rng.random(rows) > 0.5
    frame["city"] = rng.choice(["Oslo", "Rome", "Lima"], rows)
    frame["note"] = rng.choice(["a long quiet road", "short", "very noisy street"], rows)
    frame.iloc[::37, 0] = np.nan
    signal = frame["x1"] + 0.1 * frame["count"] + (frame["city"] == "Rome")
    frame["label"] = (signal + rng.normal(scale=0.5, size=rows) > 1).astype(np.int32)
    frame.index = pd.RangeIndex(rows) * 3 + 7  # not the default index
    return frame


def _spec(frame: pd.DataFrame) -> Any:
    return infer_spec("Predict label.", frame, target="label",
                      roles={"grade": "categorical", "note": "text"})


def _mapped(values: np.ndarray) -> bool:
    """True when the array's memory is a file mapping (not read into the process)."""
    base = values
    while base is not None:
        if isinstance(base, (np.memmap, mmap.mmap)):
            return True
        base = getattr(base, "base", None)
    return False


def test_worker_sees_the_shipped_frame_over_a_mapping(tmp_path) -> None:
    frame = _mixed()
    spec = _spec(frame)
    job = ship_data(frame, RunFolder.create(tmp_path, "run-1"), spec,
                    choose_evaluation(frame["label"], classification=True))
    assert job["data_path"].endswith(PARTS_SUFFIX)
    try:
        loaded = WorkerContext(None).load(job["data_path"])
    finally:
        gc.unfreeze()  # WorkerContext freezes what exists (for a worker, the libraries)
    assert list(loaded.columns) == [*spec.features, "label"]
    pd.testing.assert_index_equal(loaded.index, frame.index)
    # float64 and numeric-role ints are mapped (ints as exact float64); the rest keep dtype
    for column in ["x0", "x1", "count"]:
        assert loaded[column].dtype == np.float64
        assert _mapped(loaded[column].to_numpy())
        np.testing.assert_array_equal(loaded[column].to_numpy(), frame[column].to_numpy())
    for column in ["grade", "flag", "city", "note", "label"]:
        pd.testing.assert_series_equal(loaded[column], frame[column])
    assert loaded["label"].dtype == np.int32  # the classifier's classes_ keep the user's dtype
    # one float64 block over the mapping: a model gets it without a copy
    numbers = loaded[[c for c in loaded.columns if loaded[c].dtype == np.float64]]
    assert _mapped(np.asarray(numbers))
    # the mapping is copy-on-write: a worker writing to its frame never changes the file
    loaded.loc[loaded.index[0], "x1"] = 1e9
    assert read_frame(job["data_path"])["x1"].iloc[0] == frame["x1"].iloc[0]


def test_the_data_is_shipped_where_no_worker_can_change_it(tmp_path) -> None:
    """Outside the scratch folder, the only place a worker may write (_guard.py): a worker
    that ran LLM-written code cannot change what the next worker loads."""
    import os

    from text2ml_jupyter.sandbox import Limits, WorkerPool

    frame = _mixed()
    folder = RunFolder.create(tmp_path, "run-1")
    job = ship_data(frame, folder, _spec(frame), choose_evaluation(frame["label"],
                                                                   classification=True))
    shipped = folder.shipped.resolve()
    for key in ("data_path", "refit_data_path"):
        assert Path(job[key]).parent == shipped and not Path(job[key]).is_relative_to(
            folder.scratch.resolve())
    source = (f"def main():\n    with open({job['data_path']!r}, 'wb') as out:\n"
              "        out.write(b'poison')\n")
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), saved or ""])
    try:
        with WorkerPool(1, folder.scratch, Limits(memory_mb=2048)) as pool:
            with pytest.raises(CandidateError, match="^blocked: tried to"):
                pool.call("_worker_jobs:as_candidate", {"source": source},
                          deadline=time.monotonic() + 60)
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = saved
    assert list(read_frame(job["data_path"]).columns) == list(frame.columns)  # unchanged
    folder.clean_scratch()
    assert not shipped.exists()  # the copy goes at the end of the run


def test_not_mostly_numeric_data_is_pickled(tmp_path) -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "s": list("abcd"), "t": list("wxyz"),
                          "label": [True, False, True, False]})
    path = write_frame(frame, tmp_path / "data", columns=list(frame.columns), numeric=["a"])
    assert path.suffix == ".pkl"
    pd.testing.assert_frame_equal(read_frame(path), frame)


def test_a_float_target_stays_mapped_and_big_ints_stay_exact(tmp_path) -> None:
    frame = pd.DataFrame({"a": [0.5, 1.5, 2.5], "big": [2**60, 1, 2], "n": [1, 2, 3],
                          "price": [10.25, 11.5, 9.0]})
    path = write_frame(frame, tmp_path / "data", columns=list(frame.columns),
                       numeric=["a", "big", "n"])
    loaded = read_frame(path)
    assert loaded["big"].dtype == np.int64 and loaded["big"].iloc[0] == 2**60  # not exact
    assert loaded["price"].dtype == np.float64 and _mapped(loaded["price"].to_numpy())
    np.testing.assert_array_equal(loaded.to_numpy(dtype=float), frame.to_numpy(dtype=float))


def test_sample_rows_are_written_in_the_order_picked(tmp_path) -> None:
    frame = _mixed(200)
    spec = _spec(frame)
    evaluation = Evaluation(n_splits=1, stratified=True, seed=5, holdout=True, sample_rows=80)
    job = ship_data(frame, RunFolder.create(tmp_path, "run-1"), spec, evaluation)
    shipped = training_data(spec, read_frame(job["data_path"]))
    expected = evaluation.sample(*training_data(spec, frame))
    pd.testing.assert_index_equal(shipped[0].index, expected[0].index)
    np.testing.assert_array_equal(shipped[0]["count"].to_numpy(),
                                  expected[0]["count"].to_numpy(dtype=float))
    pd.testing.assert_frame_equal(shipped[0].drop(columns="count"),
                                  expected[0].drop(columns="count"))
    pd.testing.assert_series_equal(shipped[1], expected[1])


def _catalog(spec: Any, rows: int, k: int = 4) -> dict[str, list[Any]]:
    context = GenerationContext(spec=spec, n_rows=rows, n_features=len(spec.features), seed=0,
                                k=k)
    provider = OfflineProvider()
    return {slot.name: provider.generate(slot, context) for slot in SLOTS}


@pytest.mark.parametrize("model", ["hist_gradient_boosting", "logistic_regression"])
@pytest.mark.parametrize("preprocess", ["one_hot_scaled", "ordinal"])
def test_fitted_on_the_shipped_frame_predicts_as_fitted_on_the_users(tmp_path, preprocess: str,
                                                                     model: str) -> None:
    frame = _mixed(500).drop(columns=["note"])  # text makes the preprocess sparse
    spec = infer_spec("Predict label.", frame, target="label", roles={"grade": "categorical"})
    path = write_frame(frame, tmp_path / "data", columns=[*spec.features, "label"],
                       numeric=spec.columns_by_role()["numeric"])
    assert path.suffix == PARTS_SUFFIX
    catalog = _catalog(spec, len(frame))
    chosen = {"preprocess": preprocess, "model": model}
    chain = [(slot, c.name, c.source, c.defaults) for slot, cands in catalog.items()
             for c in cands if c.name == chosen.get(slot, cands[0].name)]

    def fitted(data: pd.DataFrame) -> Any:
        X, y = training_data(spec, data)
        return build_parts(chain, lambda s, n, d: DefaultTrial(d),
                           spec.columns_by_role())["postprocess"].fit(X, y)

    X_user, _ = training_data(spec, frame)
    on_user, on_shipped = fitted(frame), fitted(read_frame(path))
    assert list(on_shipped.classes_) == list(on_user.classes_)
    assert on_shipped.classes_.dtype == on_user.classes_.dtype
    np.testing.assert_array_equal(on_shipped.predict(X_user), on_user.predict(X_user))
    # the same up to float summation order (the mapped block is laid out row by row)
    np.testing.assert_allclose(on_shipped.predict_proba(X_user), on_user.predict_proba(X_user),
                               rtol=1e-9, atol=1e-12)


def test_large_numeric_data_offers_trees_the_data_as_it_is(tmp_path) -> None:
    frame = pd.DataFrame({f"x{i}": np.random.default_rng(i).normal(size=300) for i in range(4)})
    frame["n"] = np.arange(300) % 7
    frame["label"] = (frame["x0"] > 0).astype(int)
    spec = infer_spec("Predict label.", frame, target="label")
    first = _catalog(spec, 1_000_000)["preprocess"][0]
    assert first.name == "numbers_as_is"
    assert _catalog(spec, 10_000)["preprocess"][0].name != "numbers_as_is"  # small: scaled
    transformer = build_parts([("preprocess", first.name, first.source, {})],
                              lambda s, n, d: DefaultTrial(d), {})["preprocess"]
    path = write_frame(frame, tmp_path / "data", columns=list(frame.columns),
                       numeric=["x0", "x1", "x2", "x3", "n"])
    X = read_frame(path).drop(columns="label")
    out = transformer.fit_transform(X)
    assert np.shares_memory(np.asarray(out), np.asarray(X))  # no copy on the way to the model


def _large_numeric(rows: int = 400) -> tuple[pd.DataFrame, Any, dict[str, list[Any]]]:
    frame = pd.DataFrame({f"x{i}": np.random.default_rng(i).normal(size=rows) for i in range(4)})
    frame["n"] = np.arange(rows) % 7
    frame["label"] = (frame["x0"] + 0.3 * frame["n"] > 1).astype(int)
    spec = infer_spec("Predict label.", frame, target="label")
    return frame, spec, _catalog(spec, 1_000_000, k=10)


@pytest.mark.parametrize("preprocess, model, did", [
    ("scaled", "hist_gradient_boosting", "scaled the numbers"),
    ("scaled", "extra_trees", "scaled the numbers"),
    ("scaled", "boosting_forest_blend", "scaled the numbers"),
    ("quantile_scaled", "hist_gradient_boosting", "mapped them to normal quantiles")])
def test_a_tree_pipeline_is_refitted_without_its_scaling_and_fits_the_same(
        preprocess: str, model: str, did: str) -> None:
    # 30,000 rows for the quantile map: above 10,000 it fits its quantiles on a subsample,
    # and clips the rows outside that subsample's range
    frame, spec, accepted = _large_numeric(30_000 if preprocess == "quantile_scaled" else 400)
    params = {"preprocess": preprocess, "features": "passthrough", "model": model,
              "postprocess": "none", f"preprocess.{preprocess}.impute_strategy": "mean"}
    lean, note = without_scaling(params, accepted)
    assert lean == {"preprocess": "numbers_as_is", "features": "passthrough", "model": model,
                    "postprocess": "none"}
    assert f"{did} before {model}" in note and "the same fit" in note

    def fitted(choice: dict[str, Any]) -> Any:
        chain = [(slot, choice[slot], c.source, c.defaults) for slot, cands in accepted.items()
                 for c in cands if c.name == choice[slot]]
        X, y = training_data(spec, frame)
        return build_parts(chain, lambda s, n, d: DefaultTrial(d),
                           spec.columns_by_role())["postprocess"].fit(X, y)

    X, _ = training_data(spec, frame)
    np.testing.assert_allclose(fitted(lean).predict_proba(X), fitted(params).predict_proba(X),
                               atol=1e-9)


def test_only_tree_pipelines_lose_their_scaling() -> None:
    _, _, accepted = _large_numeric()
    base = {"preprocess": "scaled", "features": "passthrough", "postprocess": "none"}
    for params in ({**base, "model": "logistic_regression"},  # distances and weights: scale
                   {**base, "model": "random_forest"},  # ties between splits break otherwise
                   # uniform thresholds between min and max move under a non-affine map
                   {**base, "model": "extra_trees", "preprocess": "quantile_scaled"},
                   {**base, "model": "lightgbm", "features": "select_percentile"},
                   {**base, "model": "hist_gradient_boosting", "features": "select_percentile"}):
        assert without_scaling(params, accepted) == (params, "")
    small = {**accepted, "preprocess": [c for c in accepted["preprocess"]
                                        if c.name != "numbers_as_is"]}
    tree = {**base, "model": "hist_gradient_boosting"}
    assert without_scaling(tree, small) == (tree, "")  # not offered: small or not all numeric


@pytest.mark.parametrize("preprocess", ["scaled", "quantile_scaled"])
def test_lightgbm_gets_the_numbers_as_they_are_on_large_tables(preprocess: str) -> None:
    """LightGBM bins the numbers itself; rescaling moves its fit a little (zero keeps a bin
    of its own), so the note does not call it the same fit."""
    _, _, accepted = _large_numeric()
    params = {"preprocess": preprocess, "features": "passthrough", "model": "lightgbm",
              "postprocess": "none", f"preprocess.{preprocess}.impute_strategy": "median"}
    lean, note = without_scaling(params, accepted)
    assert lean == {"preprocess": "numbers_as_is", "features": "passthrough",
                    "model": "lightgbm", "postprocess": "none"}
    assert "bins the numbers itself" in note and "the same fit" not in note
    assert "the score shown is this fit's" in note


def test_a_tree_trial_after_scaling_is_fitted_on_the_numbers_as_they_are(tmp_path) -> None:
    """The search's trials: ``scaled`` before HGB is fitted as ``numbers_as_is`` (same score,
    no copies), recorded on the trial; before a linear model the scaling stays."""
    import optuna

    from text2ml_jupyter.sandbox import Limits, WorkerPool
    from text2ml_jupyter.search import Budget, Search, create_study, default_params

    frame, spec, accepted = _large_numeric()
    evaluation = choose_evaluation(frame["label"], classification=True, seed=0, time_budget=60)
    job = ship_data(frame, RunFolder.create(tmp_path, "lean"), spec, evaluation)
    study = create_study(direction="maximize", seed=0)
    by_name = {slot: {c.name: c for c in found} for slot, found in accepted.items()}
    for preprocess, model in [("scaled", "hist_gradient_boosting"),
                              ("numbers_as_is", "hist_gradient_boosting"),
                              ("scaled", "logistic_regression")]:
        chosen = {"preprocess": preprocess, "features": "passthrough", "model": model,
                  "postprocess": "none"}
        study.enqueue_trial(default_params({slot: by_name[slot][name]
                                            for slot, name in chosen.items()}))
    with WorkerPool(1, tmp_path / "scratch", Limits(memory_mb=2048)) as pool:
        search = Search(study, pool, accepted, job={**job, "evaluation": evaluation.to_dict()},
                        budget=Budget(120.0), refit_scale=1.25)
        for _ in range(3):
            search._one_trial()
    scaled_hgb, as_is_hgb, scaled_linear = study.trials
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert scaled_hgb.params["preprocess"] == "scaled"  # what TPE chose stays on the trial
    assert scaled_hgb.user_attrs["fitted_as"] == {"preprocess": "numbers_as_is"}
    assert scaled_hgb.value == as_is_hgb.value
    assert "fitted_as" not in as_is_hgb.user_attrs
    assert "fitted_as" not in scaled_linear.user_attrs


def _boosting(rows: int = 12_000) -> tuple[pd.DataFrame, Any, Any]:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(5)})
    frame["label"] = (frame["x0"] + 0.5 * frame["x1"] + rng.normal(size=rows) > 0).astype(int)
    spec = infer_spec("Predict label. Optimize ROC AUC.", frame, target="label")
    model = next(c for c in _catalog(spec, rows)["model"] if c.name == "hist_gradient_boosting")
    return frame, spec, model


def _only(model: Any) -> Any:
    """The unfitted pipeline of ``model`` alone: the data as it is, no post-processing."""
    as_is = ("from sklearn.preprocessing import FunctionTransformer\n\n"
             "def build_preprocess(trial, columns):\n    return FunctionTransformer()\n")
    chain = [("preprocess", "p", as_is, {}),
             ("features", "f", "def build_features(trial):\n    return 'passthrough'\n", {}),
             ("model", model.name, model.source, model.defaults),
             ("postprocess", "q", "def build_postprocess(trial, pipeline):\n    return pipeline\n",
              {})]
    return build_parts(chain, lambda s, n, d: DefaultTrial(d), {})["postprocess"]


def test_trials_report_boosting_iterations_and_the_refit_runs_them() -> None:
    frame, spec, model = _boosting()
    estimator = _only(model)
    X, y = training_data(spec, frame)
    splits = [(np.arange(9_000), np.arange(9_000, 12_000))]
    out = score_folds(estimator, X, y, splits, spec, lambda running, fold: False)
    n_iter = out["n_iter"]
    assert 0 < n_iter < 1000  # early stopping ended it
    assert boosting_iterations(estimator) == []  # unfitted: nothing ran
    settings = _fixed_iterations(estimator, n_iter)
    assert settings == {"model__early_stopping": False, "model__max_iter": n_iter}
    # early-stopped boosting scales with rows x iterations only
    assert expected_refit_seconds(2.0, 10.0, boosting=True) < expected_refit_seconds(2.0, 10.0)


def test_a_blend_reports_its_forest_and_its_refit_is_estimated_as_a_forest_s() -> None:
    frame, spec, alone = _boosting()
    blend = next(c for c in _catalog(spec, len(frame), k=8)["model"]
                 if c.name == "boosting_forest_blend")
    X, y = training_data(spec, frame)
    splits = [(np.arange(9_000), np.arange(9_000, 12_000))]
    estimator = _only(blend)
    out = score_folds(estimator, X, y, splits, spec, lambda running, fold: False)
    assert out["n_iter"] and out["boosting_with_trees"] is True
    assert not holds_trees(estimator)  # unfitted: no trees grown yet
    estimator = _only(alone)  # HistGradientBoosting alone
    out = score_folds(estimator, X, y, splits, spec, lambda running, fold: False)
    assert out["n_iter"] and "boosting_with_trees" not in out
    # the refit's estimate: the blend's at the forest's rate, above boosting's alone
    trial = SimpleNamespace(user_attrs={"fit_seconds": 2.0, "n_iter": 40})
    blended = SimpleNamespace(user_attrs={**trial.user_attrs, "boosting_with_trees": True})
    assert expected_refit(blended, 10.0) == expected_refit_seconds(2.0, 10.0)
    assert expected_refit(trial, 10.0) == expected_refit_seconds(2.0, 10.0, boosting=True)
    assert expected_refit(blended, 10.0) > 1.5 * expected_refit(trial, 10.0)


def test_refit_program_fits_the_fixed_iterations_and_the_program_says_so(tmp_path) -> None:
    frame, _, model = _boosting()
    build_code = (model.source + "\n\nfrom sklearn.pipeline import Pipeline\n"
                  "data = df.dropna(subset=['label'])\nX = data.drop(columns='label')\n"
                  "y = data['label']\npipeline = Pipeline([('model', build_model(None))])\n")
    build_code = build_code.replace('trial.suggest_float("learning_rate", 0.03, 0.3, log=True)',
                                    "0.1")
    for name in ("max_leaf_nodes", "min_samples_leaf", "l2_regularization"):
        build_code = _literal(build_code, name)

    class Context:
        def load(self, path: str) -> pd.DataFrame:
            return frame

    fitted = refit_program(Context(), data_path="x", build_code=build_code, data_name="df",
                           pipeline_name="pipeline", boosting_iterations=37)
    assert fitted["settings"] == {"model__early_stopping": False, "model__max_iter": 37}
    pipeline = pickle.loads(fitted["pipeline"])
    assert pipeline.named_steps["model"].n_iter_ == 37
    plain = refit_program(Context(), data_path="x", build_code=build_code, data_name="df",
                          pipeline_name="pipeline")
    assert plain["settings"] == {}

    from text2ml_jupyter.program import Cell, Program

    program = Program(code="x = 1\npipeline.fit(X, y)\n", build_code="",
                      cells=[Cell("code", "x = 1\npipeline.fit(X, y)\n", "pipeline")])
    changed = with_settings(program, fitted["settings"], "pipeline", 37)
    line = "pipeline.set_params(model__early_stopping=False, model__max_iter=37)\n"
    assert line + "pipeline.fit(X, y)\n" in changed.code
    assert line in changed.cells[0].source and "37 iterations" in changed.code


def test_an_ensembles_members_refit_with_their_own_trials_iterations() -> None:
    """Each early-stopped boosting member runs its own trial's iterations on all rows (as
    the single best does), the other members are left as they are, and the program's
    ``set_params`` line names the members' steps."""
    frame, _, model = _boosting()
    member = _literal(model.source.replace(
        'trial.suggest_float("learning_rate", 0.03, 0.3, log=True)', "0.1"), "max_leaf_nodes")
    for name in ("min_samples_leaf", "l2_regularization"):
        member = _literal(member, name)
    build_code = (member + "\n\nfrom sklearn.ensemble import VotingClassifier\n"
                  "from sklearn.pipeline import Pipeline\n"
                  "data = df.dropna(subset=['label'])\nX = data.drop(columns='label')\n"
                  "y = data['label']\n"
                  "member_1 = Pipeline([('model', build_model(None))])\n"
                  "member_10 = Pipeline([('model', build_model(None))])\n"
                  "pipeline = VotingClassifier([('member_1', member_1), "
                  "('member_10', member_10)], voting='soft')\n")

    class Context:
        def load(self, path: str) -> pd.DataFrame:
            return frame

    fitted = refit_program(Context(), data_path="x", build_code=build_code, data_name="df",
                           pipeline_name="pipeline", member_iterations={"member_1": 23})
    assert fitted["settings"] == {"member_1__model__early_stopping": False,
                                  "member_1__model__max_iter": 23}
    pipeline = pickle.loads(fitted["pipeline"])
    first, tenth = (m.named_steps["model"] for m in pipeline.estimators_)
    assert first.n_iter_ == 23 and not first.do_early_stopping_
    assert tenth.do_early_stopping_  # not named: its own held-out split, as written

    from text2ml_jupyter.program import Cell, Program

    program = Program(code="pipeline.fit(X, y)\n", build_code="",
                      cells=[Cell("code", "pipeline.fit(X, y)\n", "pipeline")])
    changed = with_settings(program, fitted["settings"], "pipeline", None)
    assert "each member's" in changed.code
    assert ("pipeline.set_params(member_1__model__early_stopping=False, "
            "member_1__model__max_iter=23)\npipeline.fit(X, y)\n") in changed.code


def _literal(code: str, name: str) -> str:
    """Replace ``trial.suggest_*("name", ...)`` by a literal (a hand-made build code)."""
    import re

    return re.sub(rf'trial\.suggest_\w+\("{name}"[^)]*\)', "20" if "leaf" in name else "1.0",
                  code)


def test_the_caller_keeps_the_loaded_pipeline_not_its_bytes(tmp_path) -> None:
    frame = _mixed(300).drop(columns=["note"])
    result = text2ml_jupyter.run("Predict label.", frame, time_budget=10, run_dir=tmp_path,
                                 n_workers=1)
    assert result.pipeline is not None
    assert result.pipeline_blob is None
    assert result.load_pipeline() is result.pipeline
    # the run shipped a mapping (.npy + .parts) and removed it at the end
    spec = result.spec
    shipped = write_frame(frame, tmp_path / "check", columns=[*spec.features, spec.target],
                          numeric=spec.columns_by_role()["numeric"])
    assert shipped.suffix == PARTS_SUFFIX
    assert [p.name for p in result.run_dir.rglob("*") if p.suffix in (".npy", ".parts")] == []
    # a pipeline left unloaded (LLM-written code) keeps its bytes until it is loaded
    unloaded = dataclasses.replace(result, pipeline=None,
                                   pipeline_blob=cloudpickle.dumps(result.pipeline))
    rows = frame.drop(columns=["label"])
    np.testing.assert_array_equal(unloaded.load_pipeline().predict(rows),
                                  result.pipeline.predict(rows))
    assert unloaded.pipeline_blob is None
    assert SLOTS_BY_NAME["model"].name in result.chosen


@pytest.mark.parametrize("protocol", [0, pickle.HIGHEST_PROTOCOL])
def test_a_pickle_crosses_in_chunks_and_loads_the_same(monkeypatch, protocol: int) -> None:
    """The refit's stream (_pickle_stream.py), with tiny chunks so that
    arrays and pickle frames straddle them; protocol 0 reads lines."""
    from collections import deque

    from text2ml_jupyter import _pickle_stream

    monkeypatch.setattr(_pickle_stream, "_CHUNK_BYTES", 1000)
    value = {"big": np.arange(5_000, dtype=np.float64), "text": "line\n" * 300, "n": 7,
             "small": np.ones(3)}
    sent: list[bytes] = []
    writer = _pickle_stream.ChunkWriter(lambda question: sent.append(question[1]))
    pickle.dump(value, writer, protocol=protocol)
    writer.close()
    assert len(sent) > 40 and all(len(c) == 1000 for c in sent[:-1])
    chunks = deque(sent)
    loaded = pickle.load(_pickle_stream.ChunkReader(chunks))
    assert not chunks  # every chunk read, and dropped
    np.testing.assert_array_equal(loaded["big"], value["big"])
    assert loaded["text"] == value["text"] and loaded["n"] == 7


def test_the_refit_pipeline_is_streamed_back_over_the_workers_connection(tmp_path,
                                                                        monkeypatch) -> None:
    from text2ml_jupyter import _refit
    from text2ml_jupyter._refit import refit_in_worker
    from text2ml_jupyter.sandbox import Limits, WorkerPool

    live_at_load: list[int] = []  # the pool's live workers when the caller loads the pickle
    real_load = _refit.load_fitted

    def load_fitted(*args: Any, **kwargs: Any) -> Any:
        live_at_load.append(sum(worker is not None for worker in pool._workers))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(_refit, "load_fitted", load_fitted)

    frame = _mixed(200).drop(columns=["note", "city"])
    path = write_frame(frame, tmp_path / "data", columns=list(frame.columns),
                       numeric=[c for c in frame.columns if c != "label"])
    build_code = ("from sklearn.pipeline import make_pipeline\n"
                  "from sklearn.preprocessing import FunctionTransformer\n"
                  "from sklearn.tree import DecisionTreeClassifier\n"
                  "def own(X):\n    return X.fillna(0)\n"
                  "X = df.drop(columns='label')\ny = df['label']\n"
                  "pipeline = make_pipeline(FunctionTransformer(own), "
                  "DecisionTreeClassifier(random_state=0))\n")
    arguments = {"data_path": str(path), "build_code": build_code, "data_name": "df",
                 "pipeline_name": "pipeline"}
    with WorkerPool(1, tmp_path / "scratch", Limits(memory_mb=2048)) as pool:
        fitted, pipeline, kept, note = refit_in_worker(
            pool, arguments, deadline=time.monotonic() + 60, origins=["offline"],
            pipeline_name="pipeline")
        assert fitted == {"settings": {}}  # no bytes in the answer: they were streamed
        assert kept is None and note is None
        X = frame.drop(columns="label")
        assert (pipeline.predict(X) == frame["label"]).mean() > 0.9  # a fitted tree
        # LLM-written code (its function here) is not loaded: its bytes are kept instead
        _, unloaded, kept, note = refit_in_worker(
            pool, arguments, deadline=time.monotonic() + 60, origins=["openai"],
            pipeline_name="pipeline")
        assert unloaded is None and "the LLM wrote" in note
        np.testing.assert_array_equal(cloudpickle.loads(kept).predict(X), pipeline.predict(X))
    # the worker that held all rows was let go before each load (the second refit forked anew)
    assert live_at_load == [0, 0]


_PATCH_CLOUDPICKLE = """
import cloudpickle, pickle

class Payload:
    def __reduce__(self):
        return (open, ({marker!r}, "w"))

def forged(obj, file, *args, **kwargs):
    pickle.dump(Payload(), file)

def main():
    cloudpickle.dump = forged  # stays patched in this worker after the call
    return "patched"
"""


def test_after_llm_code_ran_an_offline_refit_runs_in_a_fresh_worker(tmp_path,
                                                                    monkeypatch) -> None:
    """The caller loads an offline pipeline's pickle as it is; LLM-written code that ran in
    a worker earlier could have patched that worker's pickler. So once generated code ran,
    such a refit forks a worker no candidate code ran in."""
    from text2ml_jupyter._refit import refit_in_worker
    from text2ml_jupyter.sandbox import Limits, WorkerPool

    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    frame = _mixed(200).drop(columns=["note", "city", "flag"])
    path = write_frame(frame, tmp_path / "data", columns=list(frame.columns),
                       numeric=[c for c in frame.columns if c != "label"])
    arguments = {"data_path": str(path), "data_name": "df", "pipeline_name": "pipeline",
                 "build_code": "from sklearn.tree import DecisionTreeClassifier\n"
                               "X = df.drop(columns='label').fillna(0)\ny = df['label']\n"
                               "pipeline = DecisionTreeClassifier(random_state=0)\n"}
    marker = tmp_path / "ran-in-the-caller"
    patch = {"source": _PATCH_CLOUDPICKLE.format(marker=str(marker))}
    with WorkerPool(1, tmp_path / "scratch", Limits(memory_mb=2048)) as pool:
        def refit() -> Any:
            return refit_in_worker(pool, arguments, deadline=time.monotonic() + 60,
                                   origins=["offline"], pipeline_name="pipeline")[1]

        assert pool.call("_worker_jobs:as_candidate", patch,
                         deadline=time.monotonic() + 60) == "patched"
        refit()  # the same, patched worker: what the fresh worker prevents
        assert marker.exists()
        marker.unlink()
        pool.ran_generated_code = True  # as the engine sets it when LLM candidates ran
        pipeline = refit()
        assert not marker.exists()
        assert pipeline.predict(frame.drop(columns="label").fillna(0)).shape == (200,)
        # an LLM pipeline's own refit marks the pool too (its code ran in the worker)
        pool.ran_generated_code = False
        refit_in_worker(pool, arguments, deadline=time.monotonic() + 60,
                        origins=["openai"], pipeline_name="pipeline")
        assert pool.ran_generated_code


def _anon_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith("RssAnon:"))
    return int(line.split()[1]) / 1024


@pytest.mark.skipif(release_memory is None or _malloc_trim() is None, reason="glibc only")
def test_a_worker_gives_freed_memory_back_after_a_trial() -> None:
    # blocks freed in the middle of the heap (a few kB: malloc's, not Python's or mmap's)
    # stay with the process until trimmed
    keep, drop = [], []
    for i in range(30_000):
        (keep if i % 50 == 0 else drop).append(bytes(4000))
    del drop
    before = _anon_mb()
    release_memory()
    assert before - _anon_mb() > 50
    assert len(keep) == 600


def _resident_mb(path: Path) -> float:
    """MB of ``path``'s mapping(s) resident in this process (its ``Rss`` in smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split()
            if head and "-" in head[0] and ":" not in head[0]:
                inside = line.rstrip().endswith(str(path))
            elif inside and line.startswith("Rss:"):
                total += int(line.split()[1])
    return total / 1024


def _numeric_table(tmp_path: Path, rows: int, target: str) -> tuple[Path, Path]:
    """A 20-column float64 table with a 0/1 ``int`` or a ``float`` target, as the caller
    ships it: (the path read_frame takes, the .npy it maps)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, 20)), columns=[f"x{i}" for i in range(20)])
    signal = frame["x0"] + frame["x1"] ** 2
    frame["label"] = (signal > 1).astype(int) if target == "int" else signal
    path = write_frame(frame, tmp_path / "data", columns=list(frame.columns),
                       numeric=list(frame.columns[:20]))
    npy = path.with_suffix(".npy")
    with open(npy, "rb") as written:
        os.fsync(written.fileno())  # clean pages, as 30 s after the caller wrote them
    return path, npy


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="reads Linux's smaps")
@pytest.mark.parametrize("target", ["int", "float"])
def test_the_refit_lets_go_of_the_table_once_boosting_has_binned_it(tmp_path,
                                                                    target: str) -> None:
    """The refit's worker holds the table's mapping only until HistGradientBoosting has
    binned it (at 1M rows, 152 MB of the refit's ~340): the fit is the same; a float
    target mapped with the table is copied first (every iteration reads it)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.ensemble._hist_gradient_boosting.binning import _BinMapper

    path, npy = _numeric_table(tmp_path, 60_000, target)  # a 9.6 MB mapping
    cls = HistGradientBoostingClassifier if target == "int" else HistGradientBoostingRegressor
    original = _BinMapper.transform
    fitted = {}
    for release in (False, True):
        frame = read_frame(path)
        X, y = frame.drop(columns="label"), frame["label"]
        assert _mapped(np.asarray(X)) and _mapped(np.asarray(y)) == (target == "float")
        model = cls(max_iter=10, early_stopping=False, random_state=0)
        if release:
            with released_once_binned(y) as y_fit:
                model.fit(X, y_fit)
        else:
            model.fit(X, y)
        resident = _resident_mb(npy)
        assert resident < 1 if release else resident > 9
        fitted[release] = model.predict(X)
        del frame, X, y, model
        gc.collect()
    assert _BinMapper.transform is original
    np.testing.assert_array_equal(fitted[True], fitted[False])


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="reads Linux's smaps")
def test_refit_program_releases_the_table_only_for_a_boosting_model(tmp_path) -> None:
    """Through ``refit_program``: a pipeline ending in HistGradientBoosting lets go of the
    table; one ending in a forest (which reads it while it builds trees) keeps it."""
    path, npy = _numeric_table(tmp_path, 60_000, "int")
    frame = read_frame(path)

    class Context:
        def load(self, path: str) -> pd.DataFrame:
            return frame

    head = ("from sklearn.pipeline import Pipeline\nfrom sklearn import ensemble\n"
            "X = df.drop(columns='label')\ny = df['label']\n")
    for model, kept in (("HistGradientBoostingClassifier(random_state=0)", False),
                        ("ExtraTreesClassifier(n_estimators=2, random_state=0)", True)):
        build_code = head + f"pipeline = Pipeline([('model', ensemble.{model})])\n"
        refit_program(Context(), data_path=str(path), build_code=build_code, data_name="df",
                      pipeline_name="pipeline", boosting_iterations=5)  # no held-out copy
        assert (_resident_mb(npy) > 9) == kept


def test_an_ensemble_member_is_fitted_as_its_trial_was() -> None:
    """The selection blends the trials' predictions, which came from the lean fit: a member
    whose trial was fitted as ``numbers_as_is`` is so in the ensemble's program too (else
    the program's score drifts from the blend's), and the note names it."""
    from types import SimpleNamespace

    from text2ml_jupyter.ensemble import members_as_fitted

    _, _, accepted = _large_numeric()
    base = {"features": "passthrough", "postprocess": "none"}
    lightgbm = SimpleNamespace(number=4, params={
        **base, "preprocess": "quantile_scaled", "model": "lightgbm",
        "preprocess.quantile_scaled.impute_strategy": "median"})
    linear = SimpleNamespace(number=7, params={**base, "preprocess": "scaled",
                                               "model": "logistic_regression"})
    chosen, note = members_as_fitted(accepted, [(lightgbm, 2), (linear, 1)])
    fitted = [{slot: c.name for slot, (c, _) in member.items()} for member, _, _ in chosen]
    assert [f["preprocess"] for f in fitted] == ["numbers_as_is", "scaled"]
    assert [f["model"] for f in fitted] == ["lightgbm", "logistic_regression"]
    assert [(w, t) for _, w, t in chosen] == [(2, lightgbm), (1, linear)]
    assert chosen[0][0]["preprocess"][1] == {}  # the dropped preprocess's params went too
    assert "from trial 4 rescaled" in note and "7" not in note
    assert lightgbm.params["preprocess"] == "quantile_scaled"  # the trial is untouched
    assert members_as_fitted(accepted, [(linear, 1)])[1] == ""
