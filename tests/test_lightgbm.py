"""LightGBM, the optional model (the ``lightgbm`` extra; the test extra installs it): tested
in the isolated workers like any candidate, searched, refitted, and written into a program
that runs on its own, with the categories typed as categories all the way to the model."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import lightgbm as lgb  # not importorskip: the test extra installs it, so it must not skip
import numpy as np
import pandas as pd
from _programs import run_standalone

import text2ml_jupyter
from text2ml_jupyter.candidates import PASSED
from text2ml_jupyter.providers.offline import OfflineProvider


class _TreeEncodingAndLightGBM(OfflineProvider):
    """The catalog's tree encoding and LightGBM only, so that LightGBM is what wins."""

    def generate(self, slot, context):
        keep = {"preprocess": "ordinal", "model": "lightgbm"}.get(slot.name)
        found = super().generate(slot, dataclasses.replace(context, k=10))
        return [c for c in found if keep is None or c.name == keep]


def _shops(n: int = 800, seed: int = 0) -> pd.DataFrame:
    """Whether a shop sells out: driven by its colour (a category) and its price."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue", "black", "white"], size=n)
    city = rng.choice([f"city_{i}" for i in range(30)], size=n)
    price = rng.normal(10, 3, size=n)
    signal = np.isin(colour, ["red", "black"]) * 2.0 - 0.3 * (price - 10)
    sells_out = np.where(signal + rng.normal(size=n) > 1.0, "yes", "no")
    return pd.DataFrame({"colour": colour, "city": city, "price": price,
                         "sells_out": sells_out})


def test_lightgbm_is_searched_refitted_and_its_program_runs_standalone(tmp_path: Path) -> None:
    data = _shops()
    result = text2ml_jupyter.run("Predict whether the shop sells out.", data,
                                 target="sells_out", metric="roc_auc", time_budget=20,
                                 provider=_TreeEncodingAndLightGBM(), run_dir=tmp_path / "run")
    model = next(c for c in result.candidates if c.slot == "model")
    assert (model.name, model.status) == ("lightgbm", PASSED)  # tested in a worker
    assert result.chosen["model"] == "lightgbm" and result.best_score > 0.75

    fitted = result.pipeline
    while not hasattr(fitted, "named_steps"):  # an ensemble's first member; a postprocess
        fitted = fitted.estimators_[0] if hasattr(fitted, "estimators_") else fitted.estimator
    booster = fitted.named_steps["model"].booster_
    assert isinstance(fitted.named_steps["model"], lgb.LGBMClassifier)
    assert len(booster.pandas_categorical) == 2  # colour and city, split as categories

    X = data.drop(columns="sells_out")
    expected = result.pipeline.predict_proba(X)[:, 1]
    assert "from lightgbm import LGBMClassifier" in result.code
    report, _ = run_standalone(result.code, data, tmp_path, data_name="df", report="""\
        X = namespace["X"]
        proba = namespace["pipeline"].predict_proba(X)[:, 1]
        print(json.dumps({"proba": proba.tolist()}))
        """)
    assert np.allclose(report["proba"], expected)
