"""Pipelines that fit like another, with fewer copies of the data.

Mostly exactly alike: the search cannot tell them apart (their scores tie), so either may
win. One model, LightGBM, bins the numbers itself but not quite alike after rescaling; on the
large tables where this applies it gets the numbers as they are. Either way the leaner
pipeline is what a trial evaluates (so the score is its own) and what the refit fits
(search.py, _refit.py)."""

from __future__ import annotations

from typing import Any

from .candidates import Candidate

# The catalog's preprocesses that only impute and rescale each column, and the catalog
# models whose fit each leaves unchanged (tests/test_memory.py checks them), with what the
# note says the preprocess did.
# - ``scaled``, standard scaling (affine per column): HistGradientBoosting bins each column
#   at its quantiles, extremely randomized trees draw thresholds between each column's min
#   and max. Not LightGBM (its bins keep zero apart, and centring moves zero) nor the random
#   forest (rounding in the scaled columns breaks ties between equally good splits
#   differently).
# - ``quantile_scaled``, a strictly increasing map of each column to normal quantiles: only
#   HistGradientBoosting, whose bins follow each column's order (its bin edges fall between
#   the same rows); the extra trees' uniform draws between min and max would move.
_NEUTRAL_FOR = {
    "scaled": (frozenset({"hist_gradient_boosting", "extra_trees", "boosting_forest_blend"}),
               "imputed and scaled the numbers"),
    "quantile_scaled": (frozenset({"hist_gradient_boosting"}),
                        "imputed the numbers and mapped them to normal quantiles"),
}


# Models that bin each column themselves (no rescaling needed), whose fit rescaling does
# change a little: LightGBM keeps zero in a bin of its own, and both maps move zero. On the
# large all-numeric tables where ``numbers_as_is`` is offered they get the numbers as they
# are: at 1M rows the imputed and rescaled copies cost 2-5 x the table in the refit.
_BINS_ITSELF = frozenset({"lightgbm"})


def without_scaling(params: dict[str, Any],
                    accepted: dict[str, list[Candidate]]) -> tuple[dict[str, Any], str]:
    """A tree pipeline's params with the catalog's ``scaled`` or ``quantile_scaled``
    preprocess replaced by its no-copy ``numbers_as_is`` (offered only on large all-numeric
    data, and accepted only when its test rows had no missing values) where the model's fit
    is the same (``_NEUTRAL_FOR``) or the model bins the numbers itself (``_BINS_ITSELF``),
    and the note that says so; otherwise the params unchanged and "".

    Without missing values the imputer passes the numbers through (with some, the trees
    route them themselves), and the rescaling keeps the splits the trees can make: the fit
    is the same, but at 1M rows the imputed and rescaled copies of the table cost 2-5 x its
    size during the refit. The search cannot tell the two apart (their scores tie), so
    either may win. LightGBM's fit moves a little with zero (``_BINS_ITSELF``)."""
    by_name = {slot: {c.name: c for c in found} for slot, found in accepted.items()}
    as_is = by_name.get("preprocess", {}).get("numbers_as_is")
    scaled = by_name.get("preprocess", {}).get(str(params.get("preprocess")))
    model = by_name.get("model", {}).get(str(params.get("model")))
    models, did = _NEUTRAL_FOR.get(scaled.name if scaled is not None else "",
                                   (frozenset(), ""))
    if not did or as_is is None or not scaled.catalog or model is None \
            or not model.catalog or model.name not in models | _BINS_ITSELF \
            or params.get("features") != "passthrough":
        return params, ""
    lean = {k: v for k, v in params.items() if not k.startswith(scaled.param_prefix())}
    lean["preprocess"] = as_is.name
    if model.name in models:
        return lean, (f"The search's best pipeline {did} before {model.name}. The trees "
                      "split the same rows either way and route missing values themselves, "
                      "so its trials and its refit used the numbers as they are: the same "
                      "fit, without copies of the table.")
    return lean, (f"The search's best pipeline {did} before {model.name}, which bins the "
                  "numbers itself. On a table this large its trials and its refit used the "
                  "numbers as they are, without copies of the table: a slightly different "
                  "fit from the rescaled one, and the score shown is this fit's.")
