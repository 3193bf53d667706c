"""Model candidates: gradient boosting, forests, linear models, neighbours, kernel SVMs,
and LightGBM when it is installed.

Which ones, and in which order, depends on the task and the data size: boosting first on
tabular data, a linear model first on text (the TF-IDF matrix is sparse, so only models that
accept sparse input are proposed there); neighbours and kernel SVMs only where they stay fast.
Each template declares a small search space around defaults that are good on their own.
"""

from __future__ import annotations

from ..candidates import Candidate
from ._catalog_common import TINY_ROWS, Profile, candidate

SLOT = "model"

_HGB = '''
from sklearn.ensemble import $cls


def build_model(trial):
    return $cls(
$loss        learning_rate=trial.suggest_float("learning_rate", $lr_low, 0.3, log=True),
        max_iter=$max_iter,$max_iter_note
        max_leaf_nodes=trial.suggest_int("max_leaf_nodes", 4, 64, log=True),
        min_samples_leaf=trial.suggest_int("min_samples_leaf", 2, $leaf_high, log=True),
        l2_regularization=trial.suggest_float("l2_regularization", 1e-3, 10.0, log=True),
        early_stopping=$early_stopping,
        random_state=$seed,
    )
'''

_LIGHTGBM = '''
from lightgbm import $cls


def build_model(trial):
    return $cls(
        n_estimators=trial.suggest_int("n_estimators", 50, 1000, log=True),
        learning_rate=trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        num_leaves=trial.suggest_int("num_leaves", 4, 128, log=True),
        min_child_samples=trial.suggest_int("min_child_samples", 2, 100, log=True),
        colsample_bytree=trial.suggest_float("colsample_bytree", 0.3, 1.0),
        reg_lambda=trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
        n_jobs=1,
        random_state=$seed,
        verbose=-1,
    )
'''

_FOREST = '''
from sklearn.ensemble import $cls


def build_model(trial):
    return $cls(
        n_estimators=$n_trees,
        max_features=trial.suggest_float("max_features", 0.1, 1.0),
        min_samples_leaf=trial.suggest_int("min_samples_leaf", 1, 20, log=True),$max_samples
        n_jobs=1,
        random_state=$seed,
    )
'''

_BLEND = '''
from sklearn.ensemble import $forest_cls, $boosting_cls, $voting_cls


def build_model(trial):
    boosting = $boosting_cls(
        learning_rate=trial.suggest_float("learning_rate", 0.03, 0.3, log=True),
        max_iter=1000,  # a cap: training stops once a held-out 10% stops improving
        max_leaf_nodes=trial.suggest_int("max_leaf_nodes", 8, 64, log=True),
        min_samples_leaf=20,
        l2_regularization=1.0,
        early_stopping=True,
        n_iter_no_change=20,
        random_state=$seed,
    )
    forest = $forest_cls(
        n_estimators=$n_trees,
        max_features=$max_features,
        min_samples_leaf=trial.suggest_int("forest_min_samples_leaf", 1, 10, log=True),$max_samples
        n_jobs=1,
        random_state=$seed,
    )
    # Boosting and randomized trees err differently: their weighted average often beats both.
    weight = trial.suggest_float("boosting_weight", 0.2, 0.9)
    return $voting_cls(
        [("boosting", boosting), ("forest", forest)], weights=[weight, 1 - weight]$soft
    )
'''

_LOGISTIC = '''
from sklearn.linear_model import LogisticRegression


def build_model(trial):
    return LogisticRegression(
        C=trial.suggest_float("C", $c_low, $c_high, log=True),$class_weight
        max_iter=1000,
        random_state=$seed,
    )
'''

_LINEAR_SVM = '''
from sklearn.calibration import CalibratedClassifierCV
from sklearn.svm import LinearSVC


def build_model(trial):
    # A linear SVM; calibrated on internal folds so it gives probabilities.
    svm = LinearSVC(C=trial.suggest_float("C", 0.01, 100.0, log=True),$class_weight
                    random_state=$seed)
    return CalibratedClassifierCV(svm, cv=3)
'''

_NAIVE_BAYES = '''
from sklearn.naive_bayes import ComplementNB


def build_model(trial):
    return ComplementNB(alpha=trial.suggest_float("alpha", 0.01, 3.0, log=True))
'''

_SVC = '''
from sklearn.calibration import CalibratedClassifierCV
from sklearn.svm import SVC


def build_model(trial):
    svm = SVC(
        C=trial.suggest_float("C", 0.1, 100.0, log=True),
        gamma=trial.suggest_float("gamma", 1e-3, 1.0, log=True),$class_weight
        random_state=$seed,
    )
    # Platt scaling on internal folds gives the SVM its probabilities.
    return CalibratedClassifierCV(svm, ensemble=False)
'''

_KNN = '''
from sklearn.neighbors import $cls


def build_model(trial):
    return $cls(
        n_neighbors=trial.suggest_int("n_neighbors", 3, $high, log=True),
        weights=trial.suggest_categorical("weights", ["distance", "uniform"]),
        n_jobs=1,
    )
'''

_RIDGE = '''
from sklearn.linear_model import Ridge


def build_model(trial):
    return Ridge(alpha=trial.suggest_float("alpha", 1e-3, 1e3, log=True), random_state=$seed)
'''

_HUBER = '''
from sklearn.linear_model import HuberRegressor


def build_model(trial):
    # A linear model that down-weights outliers: close to minimizing absolute error.
    return HuberRegressor(
        epsilon=trial.suggest_float("epsilon", 1.0, 2.0),
        alpha=trial.suggest_float("alpha", 1e-4, 10.0, log=True),
        max_iter=1000,
    )
'''

_SVR = '''
from sklearn.compose import TransformedTargetRegressor
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR


def build_model(trial):
    svr = SVR(
        C=trial.suggest_float("C", 0.1, 100.0, log=True),
        gamma=trial.suggest_float("gamma", 1e-3, 1.0, log=True),
        epsilon=trial.suggest_float("epsilon", 0.01, 1.0, log=True),
    )
    # The SVM works in standardized target units, whatever the target's scale.
    return TransformedTargetRegressor(regressor=svr, transformer=StandardScaler())
'''

_LINEAR_SVR = '''
from sklearn.compose import TransformedTargetRegressor
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVR


def build_model(trial):
    svr = LinearSVR(
        C=trial.suggest_float("C", 0.01, 100.0, log=True),
        epsilon=trial.suggest_float("epsilon", 0.01, 1.0, log=True),
        max_iter=5000,
        random_state=$seed,
    )
    # The SVM works in standardized target units, whatever the target's scale.
    return TransformedTargetRegressor(regressor=svr, transformer=StandardScaler())
'''


def model_candidates(profile: Profile) -> list[Candidate]:
    """Best first: the first is the most reliable strong model for this kind of data; cheap
    models that are often competitive come early, since they buy the search more trials."""
    if profile.has_text:
        return _text_classifiers(profile) if profile.classification else _text_regressors(profile)
    boosting = _hist_gradient_boosting(profile)
    forest, extra_trees = _forest(profile, "random_forest"), _forest(profile, "extra_trees")
    if profile.classification:
        linear = [_logistic(profile)]
        kernel = [_svc(profile)] if profile.small else []
    else:
        linear = [_ridge(profile)]
        if profile.metric == "mae":  # Huber's loss is close to the absolute error
            linear.insert(0, _huber(profile))
        kernel = [_svr(profile)] if profile.small else []
    if profile.large:
        # Extremely randomized trees fit several times faster than a random forest.
        found = [boosting, extra_trees, *linear, forest]
    elif profile.classification:
        found = [boosting, *kernel, *linear, forest, extra_trees]
    else:
        # In regression, extremely randomized trees are usually the better forest.
        found = [boosting, *kernel, extra_trees, *linear, forest]
    if profile.early_stopping:  # enough rows for the blend to beat its parts
        found.insert(1 if profile.regression else 3, _blend(profile))
    if profile.lightgbm:
        # Second on data large enough for boosting to lead; on small data, where kernels
        # and forests win as often, after them (used with --candidates above 4).
        found.insert(1 if profile.early_stopping else len(found), _lightgbm(profile))
    if profile.knn_fits:
        found.append(_knn(profile))
    return found


def _text_classifiers(profile: Profile) -> list[Candidate]:
    found = [_linear_svm(profile), _logistic(profile)]
    if profile.text_only:  # TF-IDF only: non-negative, as naive Bayes needs
        found.append(candidate(SLOT, "complement_nb", "complement naive Bayes", _NAIVE_BAYES,
                               {"alpha": 0.3}))
    return found


def _text_regressors(profile: Profile) -> list[Candidate]:
    return [_ridge(profile), _linear_svr(profile)]


# ------------------------------------------------------------------ one candidate each

def _balanced(profile: Profile, indent: str = "        ") -> tuple[str, dict[str, object]]:
    """A class_weight choice where the metric rewards the minority class."""
    if profile.classification and profile.metric in ("f1", "balanced_accuracy"):
        return (f'\n{indent}class_weight=trial.suggest_categorical("class_weight", '
                '[None, "balanced"]),', {"class_weight": None})
    return "", {}


def _hist_gradient_boosting(profile: Profile) -> Candidate:
    cls = ("HistGradientBoostingClassifier" if profile.classification
           else "HistGradientBoostingRegressor")
    loss, defaults = "", {}
    if profile.regression and profile.metric == "mae":
        loss = ('        loss=trial.suggest_categorical("loss", '
                '["absolute_error", "squared_error"]),\n')
        defaults["loss"] = "absolute_error"
    if profile.early_stopping:
        max_iter, lr_low, early = "1000", "0.03", "True,\n        n_iter_no_change=20"
        note = "  # a cap: training stops once a held-out 10% stops improving"
    else:
        max_iter = 'trial.suggest_int("max_iter", 50, 500, log=True)'
        lr_low, early, note = "0.01", "False", ""
        defaults["max_iter"] = 100
    leaf_high = min(100, max(10, profile.n_rows // 10))  # leaves of a tenth of the rows at most
    if profile.n_rows <= TINY_ROWS:
        # A few hundred noisy rows: small trees on leaves of 10+ rows generalize best.
        leaves, min_leaf = 8, 10
    else:
        leaves, min_leaf = (16 if profile.small else 31), min(20, leaf_high)
    defaults.update(learning_rate=0.1, max_leaf_nodes=leaves, min_samples_leaf=min_leaf,
                    l2_regularization=1.0)
    return candidate(SLOT, "hist_gradient_boosting", "histogram gradient boosting", _HGB,
                     defaults, cls=cls, loss=loss, lr_low=lr_low, max_iter=max_iter,
                     max_iter_note=note, early_stopping=early, leaf_high=leaf_high,
                     seed=profile.seed)


def _lightgbm(profile: Profile) -> Candidate:
    """Only when the optional ``lightgbm`` package is installed (the ``lightgbm`` extra)."""
    cls = "LGBMClassifier" if profile.classification else "LGBMRegressor"
    defaults = {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 31,
                "min_child_samples": 20, "colsample_bytree": 0.8, "reg_lambda": 1.0}
    return candidate(SLOT, "lightgbm", "LightGBM gradient boosting", _LIGHTGBM, defaults,
                     cls=cls, seed=profile.seed)


def _blend(profile: Profile) -> Candidate:
    """Only proposed above the early-stopping size: below it, the parts do as well alone."""
    task = "Classifier" if profile.classification else "Regressor"
    defaults = {"learning_rate": 0.1, "max_leaf_nodes": 31, "forest_min_samples_leaf": 2,
                "boosting_weight": 0.5}
    return candidate(SLOT, "boosting_forest_blend", "blend of gradient boosting and "
                     "extremely randomized trees", _BLEND, defaults,
                     boosting_cls=f"HistGradientBoosting{task}", forest_cls=f"ExtraTrees{task}",
                     voting_cls=f"Voting{task}", n_trees=min(profile.n_trees(), 100),
                     max_features=0.5 if profile.classification else 0.7,
                     soft=', voting="soft"' if profile.classification else "",
                     max_samples=_subsample(profile, "extra_trees"), seed=profile.seed)


def _subsample(profile: Profile, kind: str) -> str:
    """Forest arguments that fit each tree on a bootstrap sample of ~100k rows (huge data)."""
    max_samples = profile.max_samples()
    if not max_samples:
        return ""
    bootstrap = "" if kind == "random_forest" else "\n        bootstrap=True,"
    return f"{bootstrap}\n        max_samples={max_samples},"


def _forest(profile: Profile, kind: str) -> Candidate:
    task = "Classifier" if profile.classification else "Regressor"
    cls = ("RandomForest" if kind == "random_forest" else "ExtraTrees") + task
    extra = _subsample(profile, kind)
    description = "random forest" if kind == "random_forest" else "extremely randomized trees"
    if profile.classification:
        defaults = {"max_features": 0.5, "min_samples_leaf": 3 if kind == "random_forest" else 2}
    elif profile.n_rows < 300:  # very few rows: noisy, so larger leaves
        defaults = {"max_features": 0.5 if kind == "random_forest" else 0.7,
                    "min_samples_leaf": 5}
    else:
        defaults = {"max_features": 0.5 if kind == "random_forest" else 0.7,
                    "min_samples_leaf": 2 if kind == "random_forest" or profile.large else 1}
    return candidate(SLOT, kind, description, _FOREST, defaults, cls=cls,
                     n_trees=profile.n_trees(), max_samples=extra, seed=profile.seed)


def _logistic(profile: Profile) -> Candidate:
    weight, defaults = _balanced(profile)
    # TF-IDF features are many and weak: text wants far less regularization. On tabular
    # data C above 10 is all but unregularized: it only lets the search fit the folds' noise.
    low, high, default = (1.0, 1000.0, 100.0) if profile.has_text else (1e-3, 10.0, 1.0)
    return candidate(SLOT, "logistic_regression", "logistic regression", _LOGISTIC,
                     {"C": default, **defaults}, c_low=low, c_high=high, class_weight=weight,
                     seed=profile.seed)


def _linear_svm(profile: Profile) -> Candidate:
    weight, defaults = _balanced(profile, indent="                    ")
    return candidate(SLOT, "linear_svm", "linear SVM with calibrated probabilities",
                     _LINEAR_SVM, {"C": 1.0, **defaults}, class_weight=weight,
                     seed=profile.seed)


def _svc(profile: Profile) -> Candidate:
    weight, defaults = _balanced(profile)
    return candidate(SLOT, "svc", "RBF-kernel support vector machine", _SVC,
                     {"C": 1.0, "gamma": 0.03, **defaults}, class_weight=weight,
                     seed=profile.seed)


def _knn(profile: Profile) -> Candidate:
    cls = "KNeighborsClassifier" if profile.classification else "KNeighborsRegressor"
    high = min(50, max(4, profile.n_rows // 5))  # a fold must hold more rows than neighbours
    return candidate(SLOT, "k_nearest_neighbors", "k nearest neighbours", _KNN,
                     {"n_neighbors": min(15, high), "weights": "distance"}, cls=cls, high=high)


def _ridge(profile: Profile) -> Candidate:
    return candidate(SLOT, "ridge", "ridge regression", _RIDGE, {"alpha": 1.0},
                     seed=profile.seed)


def _huber(profile: Profile) -> Candidate:
    return candidate(SLOT, "huber", "Huber regression (robust linear)", _HUBER,
                     {"epsilon": 1.35, "alpha": 1e-4})


def _svr(profile: Profile) -> Candidate:
    return candidate(SLOT, "svr", "RBF-kernel support vector regression", _SVR,
                     {"C": 10.0, "gamma": 0.05, "epsilon": 0.1})


def _linear_svr(profile: Profile) -> Candidate:
    return candidate(SLOT, "linear_svr", "linear support vector regression", _LINEAR_SVR,
                     {"C": 1.0, "epsilon": 0.1}, seed=profile.seed)
