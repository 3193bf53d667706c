"""Features candidates: the preprocess matrix -> a matrix. Few, since most value is in the
model: passthrough first, then univariate selection, interactions on small numeric data and a
projection on wide dense data."""

from __future__ import annotations

from ..candidates import Candidate
from ._catalog_common import Profile, candidate

SLOT = "features"

# Input columns above which a dense matrix is worth projecting with PCA.
PCA_MIN_FEATURES = 50
# Fewer input columns than this: selecting among them rarely helps, and costs search trials.
SELECT_MIN_FEATURES = 30

_PASSTHROUGH = '''
def build_features(trial):
    return "passthrough"
'''

_SELECT = '''
from sklearn.feature_selection import SelectPercentile, VarianceThreshold, $score
from sklearn.pipeline import make_pipeline


def build_features(trial):
    percentile = trial.suggest_int("percentile", $low, 100, log=True)
    # Drop constant columns, then keep the columns most associated with the target.
    return make_pipeline(VarianceThreshold(), SelectPercentile($score, percentile=percentile))
'''

_POLYNOMIAL = '''
from sklearn.preprocessing import PolynomialFeatures


def build_features(trial):
    # Pairwise products of the columns (and squares, unless interaction_only).
    return PolynomialFeatures(
        degree=2,
        interaction_only=trial.suggest_categorical("interaction_only", [True, False]),
        include_bias=False,
    )
'''

_PCA = '''
from sklearn.decomposition import PCA


def build_features(trial):
    # Keep the principal components that explain most of the variance.
    return PCA(n_components=trial.suggest_float("variance", 0.8, 0.99), random_state=$seed)
'''


def features_candidates(profile: Profile) -> list[Candidate]:
    """Passthrough first (every model works with it), then what suits the data."""
    score = "f_regression" if profile.regression else "f_classif"
    found = [candidate(SLOT, "passthrough", "no feature step", _PASSTHROUGH)]
    if profile.has_text or profile.n_features >= SELECT_MIN_FEATURES:
        low = 10 if profile.has_text else 20
        found.append(candidate(SLOT, "select_percentile", "keep the columns most related to "
                               "the target", _SELECT, {"percentile": 50 if profile.has_text
                                                       else 80}, score=score, low=low))
    if profile.polynomial_fits:
        found.append(candidate(SLOT, "polynomial", "pairwise interactions and squares",
                               _POLYNOMIAL, {"interaction_only": True}))
    if not profile.has_text and profile.n_features >= PCA_MIN_FEATURES:
        found.append(candidate(SLOT, "pca", "principal components", _PCA, {"variance": 0.95},
                               seed=profile.seed))
    return found
