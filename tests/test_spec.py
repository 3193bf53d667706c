"""Task understanding: target, task type, metric, positive label and column roles.

The benchmark data under tests/data/ are copies of /work/shared/benchmark (titanic, penguins,
tips and boston_housing whole; adult, diamonds and sms_spam as seeded 1,500-row samples), so
the project tests itself without the shared folder.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from text2ml_jupyter._phrases import ParsedText, find_metric, name_words, stem
from text2ml_jupyter.errors import Text2MLError
from text2ml_jupyter.spec import (CATEGORICAL, CONSTANT, DATETIME, EMPTY, IDENTIFIER, LEAKAGE,
                                  NUMERIC, TARGET, TEXT, TaskSpec, infer_spec, training_data)

DATA = Path(__file__).parent / "data"
TASKS = {t["name"]: t for t in json.loads((DATA / "tasks.json").read_text())}
N = 300


def load(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / TASKS[name]["file"])


@pytest.fixture(scope="module")
def titanic() -> pd.DataFrame:
    return load("titanic")


@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    return load("adult")


@pytest.fixture(scope="module")
def sms() -> pd.DataFrame:
    return load("sms_spam")


def cars(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "mpg": rng.normal(25, 5, N), "cylinders": rng.choice([4, 6, 8], N),
        "weight": rng.normal(3000, 400, N), "horsepower": rng.normal(110, 25, N),
        "origin": rng.choice(["usa", "europe", "japan"], N),
    })


def houses(target_name: str = "price") -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({
        "Id": np.arange(1, N + 1), "LotArea": rng.normal(1e4, 2e3, N),
        "Neighborhood": rng.choice(list("ABCDE"), N), "Rooms": rng.integers(2, 9, N),
        target_name: rng.normal(2e5, 5e4, N),
    })


def errors_of(text: str, data: pd.DataFrame, **kwargs) -> str:
    with pytest.raises(Text2MLError) as info:
        infer_spec(text, data, **kwargs)
    return str(info.value)


# -- the seven benchmark tasks ----------------------------------------------------------------

EXPECTED = {  # name -> (target, task type, metric, pos_label)
    "titanic": ("survived", "binary", "f1", 1),
    "penguins": ("species", "multiclass", "accuracy", None),
    "tips": ("tip", "regression", "mae", None),
    "diamonds": ("price", "regression", "rmse", None),
    "boston_housing": ("medv", "regression", "rmse", None),
    "adult": ("class", "binary", "roc_auc", ">50K"),
    "sms_spam": ("label", "binary", "f1", "spam"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_benchmark_task(name: str) -> None:
    task = TASKS[name]
    data = load(name)
    start = time.perf_counter()
    spec = infer_spec(task["task"], data)
    elapsed = time.perf_counter() - start
    target, task_type, metric, pos_label = EXPECTED[name]
    assert (spec.target, spec.task_type, spec.metric, spec.pos_label) == (
        target, task_type, metric, pos_label)
    assert (spec.target, spec.task_type, spec.metric) == (task["target"], task["type"],
                                                         task["metric"])
    assert all(spec.columns[c] == LEAKAGE for c in task.get("leak", []))
    assert set(spec.columns) == set(data.columns) and spec.columns[target] == TARGET
    assert spec.n_rows == len(data) and spec.n_rows_dropped == 0
    assert elapsed < 1.0


def test_benchmark_details(titanic: pd.DataFrame, sms: pd.DataFrame) -> None:
    spec = infer_spec(TASKS["titanic"]["task"], titanic)
    assert spec.direction == "maximize" and spec.classes == [0, 1]
    assert any(n.startswith("Excluded 'alive'") and "leakage" in n for n in spec.notes)
    assert "alive" not in spec.features
    spec = infer_spec(TASKS["sms_spam"]["task"], sms)
    assert spec.columns["message"] == TEXT and spec.classes == ["ham", "spam"]
    spec = infer_spec(TASKS["penguins"]["task"], load("penguins"))
    assert spec.classes == ["Adelie", "Chinstrap", "Gentoo"]
    assert spec.columns["island"] == CATEGORICAL and spec.columns["body_mass_g"] == NUMERIC
    spec = infer_spec(TASKS["diamonds"]["task"], load("diamonds"))
    assert spec.direction == "minimize" and spec.classes is None and not spec.excluded()


def test_large_data_is_fast() -> None:
    """Role and leakage statistics use a sample: 60k rows stay well under a second."""
    big = pd.concat([load("adult")] * 40, ignore_index=True)
    start = time.perf_counter()
    spec = infer_spec(TASKS["adult"]["task"], big)
    assert time.perf_counter() - start < 1.0
    assert spec.target == "class" and spec.n_rows == len(big)


# -- finding the target in the text -----------------------------------------------------------

@pytest.mark.parametrize("text", [
    "Predict whether a passenger survived",
    "Predict survival",
    "Will the passenger survive?",
    "Which passengers survived the sinking?",
    "Using class, sex and age, predict whether the passenger survived",
    "Predict whether a passenger survived from their class, sex and age",
    "Given the fare and the deck, classify survival.",
    "Predict whether a passenger in first class survived",
    "survived",
])
def test_target_titanic_phrasings(text: str, titanic: pd.DataFrame) -> None:
    assert infer_spec(text, titanic).target == "survived"


@pytest.mark.parametrize("name", ["price", "Sale Price", "SalePrice", "sale_price", "saleprice",
                                  "SALE_PRICE"])
def test_target_name_spellings(name: str) -> None:
    text = "Predict the sale price of the house" if "ale" in name.lower() else "Predict the price"
    spec = infer_spec(text, houses(name))
    assert spec.target == name and spec.task_type == "regression"


@pytest.mark.parametrize("text", ["Predict SalePrice", "Predict the saleprice",
                                  "Predict the sale price", "Predict sale-prices"])
def test_target_written_in_one_word_or_several(text: str) -> None:
    assert infer_spec(text, houses("SalePrice")).target == "SalePrice"
    assert infer_spec(text, houses("sale_price")).target == "sale_price"


def test_target_plural_and_stemming() -> None:
    spec = infer_spec("Estimate house prices from the lot area", houses("price"))
    assert spec.target == "price" and spec.task_type == "regression"


def test_target_acronym_gets_a_note() -> None:
    spec = infer_spec("Predict fuel efficiency in miles per gallon", cars())
    assert spec.target == "mpg"
    assert any("initials of 'miles per gallon'" in n for n in spec.notes)


def test_target_partial_name_gets_a_note() -> None:
    spec = infer_spec("Estimate house prices", houses("SalePrice"))
    assert spec.target == "SalePrice" and any("part of its name" in n for n in spec.notes)


def test_input_words_are_not_the_target() -> None:
    data = cars()
    assert infer_spec("Predict mpg from weight and horsepower", data).target == "mpg"
    assert infer_spec("Using the weight, estimate the horsepower", data).target == "horsepower"
    assert infer_spec("Based on weight and origin, predict the horsepower",
                      data).target == "horsepower"


def test_input_location_column_is_not_the_target(sms: pd.DataFrame) -> None:
    spec = infer_spec("Flag spam text messages; the message text is in the message column.", sms)
    assert spec.target == "label" and spec.columns["message"] == TEXT
    assert any("its value 'spam'" in n for n in spec.notes)


def test_target_from_a_value_of_a_low_cardinality_column(adult: pd.DataFrame) -> None:
    spec = infer_spec("Predict whether a person earns more than 50K", adult)
    assert spec.target == "class" and spec.pos_label == ">50K"
    assert any("Target 'class' chosen because the text mentions its value '>50K'" in n
               for n in spec.notes)
    below = infer_spec("Predict whether someone earns at most 50K", adult)
    assert below.pos_label == "<=50K"


def test_column_named_in_target_location_still_counts() -> None:
    assert infer_spec("Predict the value in the price column", houses("price")).target == "price"


def test_data_prefers_candidates_that_fit_the_task() -> None:
    rng = np.random.default_rng(2)
    data = pd.DataFrame({"rating_score": rng.normal(3, 1, N),  # continuous
                         "rating_level": rng.choice(["good", "fair", "bad"], N),
                         "x": rng.normal(size=N)})
    assert infer_spec("Classify the rating", data).target == "rating_level"
    assert infer_spec("Estimate the rating", data).target == "rating_score"


def test_target_named_target_is_a_fallback_with_a_note() -> None:
    data = cars().rename(columns={"origin": "target"})
    spec = infer_spec("Train a good model", data)
    assert spec.target == "target" and any("chosen by its name" in n for n in spec.notes)


def test_no_target_found_lists_likely_columns() -> None:
    message = errors_of("Do something useful with this data", cars())
    assert "Could not tell" in message and "target=" in message and "--target" in message
    assert "'mpg'" in message and "'origin'" in message


def test_tie_lists_the_tied_columns() -> None:
    rng = np.random.default_rng(3)
    data = pd.DataFrame({"survived": rng.integers(0, 2, N), "survival": rng.integers(0, 2, N),
                         "age": rng.normal(30, 10, N)})
    message = errors_of("Predict whether they survive", data)
    assert "several columns" in message and "'survived'" in message and "'survival'" in message
    assert "target=" in message


def test_explicit_target_wins(titanic: pd.DataFrame) -> None:
    spec = infer_spec("Predict whether a passenger survived", titanic, target="alone")
    assert spec.target == "alone" and spec.columns["survived"] == NUMERIC
    assert spec.task_type == "binary" and spec.classes == [False, True] and spec.pos_label is True


def test_explicit_target_not_a_column(titanic: pd.DataFrame) -> None:
    message = errors_of("", titanic, target="Survivd")
    assert "'Survivd' is not a column" in message
    assert message.index("'survived'") < message.index("'fare'")  # closest first


# -- task type --------------------------------------------------------------------------------

def test_task_type_from_values_and_text() -> None:
    data = cars()
    assert infer_spec("Predict the origin", data).task_type == "multiclass"
    assert infer_spec("Predict mpg", data).task_type == "regression"
    few = infer_spec("Predict the cylinders", data)
    assert few.task_type == "multiclass" and few.classes == [4, 6, 8]
    assert any("treated as multiclass" in n for n in few.notes)  # ambiguity is reported
    assert infer_spec("How many cylinders does it have?", data).task_type == "regression"
    assert infer_spec("Estimate the number of cylinders", data).task_type == "regression"
    assert infer_spec("Classify the cylinders", data).task_type == "multiclass"


def test_binary_from_two_values_and_bool() -> None:
    data = cars()
    data["heavy"] = data["weight"] > 3000
    spec = infer_spec("Predict whether the car is heavy from its horsepower", data)
    assert spec.target == "heavy" and spec.task_type == "binary" and spec.pos_label is True


def test_explicit_task_type_wins_and_is_validated() -> None:
    data = cars()
    assert infer_spec("Predict the cylinders", data, task_type="regression").task_type == \
        "regression"
    assert infer_spec("Predict the cylinders", data,
                      task_type="classification").task_type == "multiclass"
    assert infer_spec("Predict mpg", data, task_type="Multi-class").task_type == "multiclass"
    assert "Unknown task type" in errors_of("Predict mpg", data, task_type="ranking")
    assert "needs a numeric target" in errors_of("Predict the origin", data,
                                                 task_type="regression")
    assert "needs two classes" in errors_of("Predict the origin", data, task_type="binary")


def test_single_valued_target_is_an_error() -> None:
    data = cars()
    data["flag"] = "x"
    message = errors_of("Predict the flag", data, target="flag")
    assert "single value" in message and "target=" in message


@pytest.mark.parametrize("text, words", [
    ("Segment customers into groups", "segment customers"),
    ("Cluster the cars by similarity", "cluster"),
    ("Forecast mpg for the next 7 days", "next 7 days"),
    ("Time series forecasting of the weight", "time series"),
    ("Classify these images of cats and dogs", "images"),
])
def test_unsupported_tasks_say_so(text: str, words: str) -> None:
    message = errors_of(text, cars())
    assert "not supported yet" in message and words in message


def test_forecast_a_column_is_ordinary_regression() -> None:
    spec = infer_spec("Forecast the price of a house", houses("price"))
    assert spec.target == "price" and spec.task_type == "regression"


def test_next_days_in_a_classification_is_fine() -> None:
    rng = np.random.default_rng(4)
    data = pd.DataFrame({"bought": rng.integers(0, 2, N), "visits": rng.integers(0, 30, N)})
    spec = infer_spec("Predict whether a customer bought in the next 30 days", data)
    assert spec.target == "bought" and spec.task_type == "binary"


# -- metric -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, metric", [
    ("Optimize F1.", "f1"), ("Optimize F1 for spam.", "f1"), ("We care about ROC AUC", "roc_auc"),
    ("maximize AUC", "roc_auc"), ("minimize log loss", "log_loss"),
    ("report the cross-entropy", "log_loss"), ("by accuracy", "accuracy"),
    ("balanced accuracy please", "balanced_accuracy"), ("metric: RMSE", "rmse"),
    ("report mean absolute error", "mae"), ("MAE", "mae"), ("maximize R²", "r2"),
    ("R-squared", "r2"), ("r^2", "r2"), ("root mean squared error", "rmse"),
    ("Optimize accuracy; also report AUC", "accuracy"), ("nothing here", None),
])
def test_find_metric(text: str, metric: str | None) -> None:
    assert find_metric(text)[0] == metric


def test_metric_from_text_and_defaults(titanic: pd.DataFrame) -> None:
    spec = infer_spec("Predict whether a passenger survived. Minimize log loss.", titanic)
    assert spec.metric == "log_loss" and spec.direction == "minimize"
    assert infer_spec("Predict survival", titanic).metric == "accuracy"
    spec = infer_spec("Predict mpg; report R squared", cars())
    assert spec.metric == "r2" and spec.direction == "maximize"


def test_explicit_metric_wins_and_is_validated(titanic: pd.DataFrame) -> None:
    spec = infer_spec("Predict survival. Optimize F1.", titanic, metric="roc-auc")
    assert spec.metric == "roc_auc"
    message = errors_of("Predict survival", titanic, metric="rmse")
    assert "does not fit a binary task" in message
    assert "Unknown metric" in errors_of("Predict survival", titanic, metric="bleu")


def test_text_metric_that_does_not_fit_is_an_error() -> None:
    assert "does not fit" in errors_of("Predict the origin; optimize RMSE", cars(),
                                       task_type="multiclass")


def test_unsupported_metric_in_text_is_noted(titanic: pd.DataFrame) -> None:
    spec = infer_spec("Predict survival and optimize precision", titanic)
    assert spec.metric == "accuracy" and any("precision" in n for n in spec.notes)


# -- positive label ---------------------------------------------------------------------------

def test_pos_label_sources(titanic: pd.DataFrame, sms: pd.DataFrame) -> None:
    assert infer_spec("Predict survival. Optimize F1.", titanic).pos_label == 1
    assert infer_spec("Predict survival", titanic, pos_label="0").pos_label == 0
    assert infer_spec("Predict survival", titanic, pos_label=0.0).pos_label == 0
    spec = infer_spec("Predict the label. Optimize F1 for ham.", sms)
    assert spec.pos_label == "ham"
    assert infer_spec("Predict the label", sms, pos_label="spam").pos_label == "spam"
    alive = infer_spec("Predict alive", titanic)
    assert alive.target == "alive" and alive.pos_label == "yes"
    assert alive.columns["survived"] == LEAKAGE


def test_pos_label_minority_fallback_is_noted() -> None:
    rng = np.random.default_rng(5)
    data = pd.DataFrame({"outcome": rng.choice(["stay", "leave"], N, p=[0.8, 0.2]),
                         "x": rng.normal(size=N)})
    spec = infer_spec("Predict the outcome; optimize F1", data)
    assert spec.pos_label == "leave" and any("rarer class" in n for n in spec.notes)


def test_explicit_pos_label_not_a_class(titanic: pd.DataFrame) -> None:
    message = errors_of("Predict survival", titanic, pos_label="maybe")
    assert "not a class" in message and "0, 1" in message


def test_pos_label_ignored_for_regression() -> None:
    spec = infer_spec("Predict mpg", cars(), pos_label=1)
    assert spec.pos_label is None and any("pos_label" in n for n in spec.notes)


# -- column roles -----------------------------------------------------------------------------

def test_roles() -> None:
    rng = np.random.default_rng(6)
    words = np.array("the quick brown fox jumps over lazy dog again and".split())
    data = pd.DataFrame({
        "row": np.arange(N),  # a saved index
        "customer_id": rng.permutation(N) + 1000,
        "uuid": [f"u{i:05d}" for i in rng.permutation(N)],
        "code": [f"c{i}" for i in rng.permutation(N)],  # unique short strings
        "signup": pd.date_range("2020-01-01", periods=N, freq="D"),
        "last_seen": pd.date_range("2021-03-01", periods=N, freq="h").strftime("%Y-%m-%d %H:%M"),
        "review": [" ".join(rng.choice(words, 8)) + f" {i}" for i in range(N)],
        "plan": rng.choice(["free", "pro"], N),
        "active": rng.choice([True, False], N),
        "visits": rng.integers(0, 50, N),
        "country": pd.Categorical(rng.choice(["fr", "de"], N)),
        "version": "v1",
        "nothing": np.nan,
        "spend": rng.gamma(2, 10, N),
    })
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # date parsing stays quiet
        spec = infer_spec("Predict the spend", data)
    assert spec.columns == {
        "row": IDENTIFIER, "customer_id": IDENTIFIER, "uuid": IDENTIFIER, "code": IDENTIFIER,
        "signup": DATETIME, "last_seen": DATETIME, "review": TEXT, "plan": CATEGORICAL,
        "active": CATEGORICAL, "visits": NUMERIC, "country": CATEGORICAL, "version": CONSTANT,
        "nothing": EMPTY, "spend": TARGET,
    }
    notes = " ".join(spec.notes)
    for column in ("row", "customer_id", "uuid", "code", "version", "nothing"):
        assert f"Excluded {column!r}" in notes
    assert spec.features == ["signup", "last_seen", "review", "plan", "active", "visits",
                             "country"]


def test_object_dtype_strings_work_like_str() -> None:
    data = load("penguins").astype({"species": object, "island": object, "sex": object})
    spec = infer_spec(TASKS["penguins"]["task"], data)
    assert spec.target == "species" and spec.columns["island"] == CATEGORICAL


# -- leakage ----------------------------------------------------------------------------------

def test_leakage_in_regression() -> None:
    rng = np.random.default_rng(7)
    price = rng.gamma(3, 1000, N)
    data = pd.DataFrame({"size": price / 10 + rng.normal(0, 100, N), "log_price": np.log(price),
                         "double": price * 2, "band": pd.cut(price, 100).astype(str),
                         "rooms": rng.integers(1, 6, N), "price": price})
    spec = infer_spec("Predict the price", data)
    assert spec.columns["log_price"] == LEAKAGE and spec.columns["double"] == LEAKAGE
    assert spec.columns["size"] == NUMERIC and spec.columns["rooms"] == NUMERIC
    assert any("log_price" in n and "almost perfectly" in n for n in spec.notes)


def test_leakage_in_classification() -> None:
    rng = np.random.default_rng(8)
    y = rng.integers(0, 2, N)
    data = pd.DataFrame({"churn": y, "status": np.where(y == 1, "closed", "open"),
                         "stars": y * 4 + 1,  # a low-cardinality numeric copy
                         "plan": rng.choice(["a", "b", "c"], N), "usage": rng.normal(size=N)})
    spec = infer_spec("Predict churn", data)
    assert spec.columns["status"] == LEAKAGE and spec.columns["stars"] == LEAKAGE
    assert spec.columns["plan"] == CATEGORICAL and spec.columns["usage"] == NUMERIC
    assert any("roles={'status': 'categorical'}" in n for n in spec.notes)


def test_no_leakage_on_honest_benchmarks() -> None:
    for name in ("penguins", "tips", "boston_housing", "diamonds", "adult"):
        spec = infer_spec(TASKS[name]["task"], load(name))
        assert LEAKAGE not in spec.columns.values(), name


# -- missing targets and training data --------------------------------------------------------

def test_missing_target_rows(titanic: pd.DataFrame) -> None:
    data = titanic.copy()
    data.loc[[3, 10], "survived"] = np.nan
    spec = infer_spec("Predict whether a passenger survived. Optimize F1.", data)
    assert spec.n_rows == len(data) - 2 and spec.n_rows_dropped == 2
    assert "Dropped 2 rows with a missing target." in spec.notes
    assert spec.task_type == "binary" and spec.pos_label == 1
    X, y = training_data(spec, data)
    assert len(X) == len(y) == spec.n_rows and list(X.columns) == spec.features
    assert y.notna().all()


def test_all_missing_target_is_an_error() -> None:
    data = cars()
    data["mpg"] = np.nan
    assert "no values" in errors_of("Predict mpg", data, target="mpg")


def test_bad_input_frames() -> None:
    assert "DataFrame" in errors_of("Predict mpg", {"mpg": [1, 2]})
    assert "at least two columns" in errors_of("Predict mpg", cars()[["mpg"]])
    duplicated = pd.DataFrame([[1, 2, 3]], columns=["a", "a", "b"])
    assert "Duplicate column" in errors_of("Predict b", duplicated)


def test_spec_round_trips_through_json(adult: pd.DataFrame) -> None:
    spec = infer_spec(TASKS["adult"]["task"], adult)
    data = json.loads(json.dumps(spec.to_dict()))
    assert TaskSpec.from_dict(data) == spec
    assert "Target: class (binary, 2 classes)" in spec.summary()


# -- text helpers -----------------------------------------------------------------------------

def test_text_helpers() -> None:
    assert stem("survival") == stem("survived") == stem("survive") == stem("surviving")
    assert stem("prices") == stem("price") and stem("classes") == stem("class")
    assert name_words("SalePrice") == name_words("sale_price") == ["sale", "price"]
    assert name_words("PassengerId") == ["passenger", "id"]
    parsed = ParsedText("Using age, predict survival; the name is in the name column.")
    assert parsed.input_locations == [(stem("name"),)]
    zones = dict(zip(parsed.tokens, parsed.zones, strict=True))
    assert zones["age"] == "input"
    assert zones["survival"] == "target"


def test_roles_override_keeps_a_leakage_suspect(titanic: pd.DataFrame) -> None:
    flagged = infer_spec("Predict whether a passenger survived.", titanic)
    assert flagged.columns["alive"] == "leakage"
    note = next(n for n in flagged.notes if "'alive'" in n)
    assert "roles={'alive': 'categorical'}" in note and "--role alive=categorical" in note
    kept = infer_spec("Predict whether a passenger survived.", titanic,
                      roles={"alive": "categorical", "deck": "ignore"})
    assert kept.columns["alive"] == "categorical" and "alive" in kept.features
    assert kept.columns["deck"] == "ignore" and "deck" not in kept.features
    assert not any("'alive'" in n for n in kept.notes)


@pytest.mark.parametrize("roles, message", [
    ({"nope": "numeric"}, "'nope', which is not a column"),
    ({"survived": "numeric"}, "roles names the target 'survived'"),
    ({"age": "fancy"}, "Unknown role 'fancy' for column 'age'"),
    (["age"], "not a mapping of column to role"),
])
def test_bad_roles_are_explained(titanic: pd.DataFrame, roles: object, message: str) -> None:
    with pytest.raises(Text2MLError, match=message):
        infer_spec("Predict whether a passenger survived.", titanic, roles=roles)
