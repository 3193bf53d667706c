"""Pipelines that fit exactly like another, with fewer copies of the data.

The search cannot tell them apart (their scores tie), so either may win; the leaner one is
what a trial evaluates and what the refit fits (search.py, _refit.py)."""

from __future__ import annotations

from typing import Any

from .candidates import Candidate

# Catalog models whose fit a per-column affine scaling of the inputs leaves unchanged
# (tests/test_memory.py checks it): HistGradientBoosting bins on quantiles, extremely
# randomized trees draw thresholds between each column's min and max. Not LightGBM (its bins
# keep zero apart, and centring moves zero) nor the random forest (rounding in the scaled
# columns breaks ties between equally good splits differently).
_TREE_MODELS = frozenset({"hist_gradient_boosting", "extra_trees", "boosting_forest_blend"})


def without_scaling(params: dict[str, Any],
                    accepted: dict[str, list[Candidate]]) -> tuple[dict[str, Any], str]:
    """A tree pipeline's params with the catalog's ``scaled`` preprocess replaced by its
    no-copy ``numbers_as_is`` (offered only on large all-numeric data, and accepted only when
    its test rows had no missing values), and the note that says so; otherwise the params
    unchanged and "".

    Standard scaling is affine per column, so the trees it feeds split the same rows, and
    without missing values the imputer passes the numbers through (with some, the trees
    route them themselves): the fit is the same, but at 1M rows the imputed and scaled
    copies of the table cost 2-3 x its size during the refit. The search cannot tell the
    two apart (their scores tie), so either may win."""
    by_name = {slot: {c.name: c for c in found} for slot, found in accepted.items()}
    as_is = by_name.get("preprocess", {}).get("numbers_as_is")
    scaled = by_name.get("preprocess", {}).get(str(params.get("preprocess")))
    model = by_name.get("model", {}).get(str(params.get("model")))
    if as_is is None or scaled is None or scaled.name != "scaled" or not scaled.catalog \
            or model is None or not model.catalog or model.name not in _TREE_MODELS \
            or params.get("features") != "passthrough":
        return params, ""
    lean = {k: v for k, v in params.items() if not k.startswith(scaled.param_prefix())}
    lean["preprocess"] = as_is.name
    return lean, ("The search's best pipeline imputed and scaled the numbers before "
                  f"{model.name}. Trees are unchanged by scaling and route missing values "
                  "themselves, so its trials and its refit used the numbers as they are: the "
                  "same fit, without copies of the table.")
