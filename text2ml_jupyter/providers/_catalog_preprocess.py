"""Preprocess candidates: the feature DataFrame -> a numeric matrix without NaN.

Every candidate imputes (``keep_empty_features=True``, so a column that is all NaN in a fold
still yields a column), encodes categories as strings first (an encoder needs one type per
column; missing becomes its own category), and handles categories unseen at fit time. Without
text columns the output is dense (HistGradientBoosting needs it); with text it is sparse, and
the model catalog then only proposes models that accept sparse input.
"""

from __future__ import annotations

import re

from ..candidates import Candidate
from ._catalog_common import Profile, candidate

SLOT = "preprocess"

# Role -> the builder's variable holding that role's transformer (text is a list of branches).
_BRANCHES = {"numeric": "numeric", "categorical": "categorical", "datetime": "dates"}

# Categories per column for the tree encoding: HistGradientBoosting's limit (its 255 bins).
_MAX_CATEGORIES = 255

_AS_STRINGS = '''
def as_strings(frame):
    """Categories as strings (one type per column), missing values as their own category."""
    return pd.DataFrame(frame).astype(object).fillna("missing").astype(str)
'''

_AS_TEXT = '''
def as_text(column):
    """One text column as strings; missing text becomes an empty string."""
    return pd.Series(column).fillna("").astype(str)
'''

_DATE_PARTS = '''
def date_parts(frame):
    """Year, month, day, weekday and hour of each date column (NaN where it is missing)."""
    frame = pd.DataFrame(frame)
    parts = {}
    for column in frame.columns:
        dates = pd.to_datetime(frame[column], errors="coerce", format="mixed", utc=True).dt
        parts.update({f"{column}_year": dates.year, f"{column}_month": dates.month,
                      f"{column}_day": dates.day, f"{column}_weekday": dates.day_of_week,
                      f"{column}_hour": dates.hour})
    return pd.DataFrame(parts, index=frame.index).astype(float)
'''

_AS_CATEGORIES = '''
def as_categories(frame):
    """Category codes as pandas categories: tree models then split on them as categories."""
    return pd.DataFrame(frame).astype("category")
'''


def preprocess_candidates(profile: Profile) -> list[Candidate]:
    """Best first: the first works well with every model the catalog proposes."""
    if profile.has_text:
        return [_tfidf(profile, "chars"), _tfidf(profile, "both"), _tfidf(profile, "words")]
    scaled, quantile = _one_hot(profile, "standard"), _one_hot(profile, "quantile")
    if not _has(profile, "categorical"):
        if profile.large and _only(profile, "numeric"):
            # Each transformed copy of a large table costs its size in memory (impute,
            # indicators and scaling: 3.3 x at 1M rows); trees need none of it.
            return [_numbers_as_they_are(), scaled, quantile]
        return [scaled, quantile]  # trees ignore scaling: no separate tree encoding needed
    if profile.large:
        # On large data one-hot columns make boosting several times slower, for no gain.
        return [_ordinal(profile), scaled, quantile]
    return [scaled, _ordinal(profile), quantile]


# ------------------------------------------------------------------ shared pieces

def _imports(code: str, names: tuple[str, ...]) -> str:
    """Import lines for the dotted ``names`` that ``code`` uses, grouped by module."""
    modules: dict[str, set[str]] = {}
    for name in ("sklearn.compose.ColumnTransformer", "sklearn.impute.SimpleImputer",
                 "sklearn.pipeline.make_pipeline", "sklearn.preprocessing.FunctionTransformer",
                 *names):
        module, _, symbol = name.rpartition(".")
        if re.search(rf"\b{symbol}\(", code):
            modules.setdefault(module, set()).add(symbol)
    lines = ["import pandas as pd"] if re.search(r"\bpd\.", code) else []
    lines += [f"from {module} import {', '.join(sorted(symbols))}"
              for module, symbols in sorted(modules.items())]
    return "\n".join(lines)


def _has(profile: Profile, *roles: str) -> bool:
    return any(profile.roles.get(r, 0) for r in roles)


def _only(profile: Profile, role: str) -> bool:
    """Every feature column has this role."""
    return all(n == 0 for r, n in profile.roles.items() if r != role)


def _helpers(profile: Profile, *, categories: bool = False) -> str:
    parts = []
    if _has(profile, "categorical"):
        parts += [_AS_STRINGS, _AS_CATEGORIES] if categories else [_AS_STRINGS]
    if _has(profile, "text"):
        parts.append(_AS_TEXT)
    if _has(profile, "datetime"):
        parts.append(_DATE_PARTS)
    return "".join(p.strip("\n") + "\n\n\n" for p in parts)


def _column_transformer(profile: Profile, *, sparse: bool) -> str:
    """The ColumnTransformer over the roles that have columns (text branches come as a list)."""
    rows = [f'("{role}", {variable}, columns["{role}"])'
            for role, variable in _BRANCHES.items() if _has(profile, role)]
    listed = "[\n        " + ",\n        ".join(rows) + ",\n    ]" if rows else "[]"
    if _has(profile, "text"):
        listed = f"{listed} + text" if rows else "text"
    threshold = "1.0" if sparse else "0"
    return f"ColumnTransformer({listed}, sparse_threshold={threshold})"


def _source(profile: Profile, names: tuple[str, ...], body: list[str], transformer: str,
            *, categories: bool = False) -> str:
    """The whole source: imports, the helpers the roles need, then the builder."""
    helpers = _helpers(profile, categories=categories)
    code = "\n".join(["def build_preprocess(trial, columns):", *body,
                      f"    return {transformer}"])
    return "\n".join([_imports(helpers + code, names), "", "", helpers + code])


def _numeric_lines(profile: Profile, scaler: str | None, *, declared: bool) -> list[str]:
    """Numbers (with missing-value indicators) and date parts: impute, then maybe scale."""
    if not _has(profile, "numeric", "datetime"):
        return []
    lines = []
    strategy = '"median"'
    if declared:
        lines.append('    strategy = trial.suggest_categorical("impute_strategy", '
                     '["median", "mean"])')
        strategy = "strategy"
    if _has(profile, "numeric"):
        impute = f"SimpleImputer(strategy={strategy}, add_indicator=True, keep_empty_features=True)"
        lines += _assign("numeric", [impute, scaler] if scaler else [impute])
    if _has(profile, "datetime"):
        steps = ["FunctionTransformer(date_parts)",
                 f"SimpleImputer(strategy={strategy}, keep_empty_features=True)"]
        lines += _assign("dates", steps + ([scaler] if scaler else []))
    return lines


def _assign(variable: str, steps: list[str]) -> list[str]:
    """``variable = step`` or ``variable = make_pipeline(...)``, one step per line if long."""
    if len(steps) == 1:
        return [f"    {variable} = {steps[0]}"]
    line = f"    {variable} = make_pipeline({', '.join(steps)})"
    if len(line) <= 99:
        return [line]
    return [f"    {variable} = make_pipeline(", *[f"        {s}," for s in steps], "    )"]


def _one_hot_lines(profile: Profile) -> list[str]:
    if not _has(profile, "categorical"):
        return []
    return [
        "    categorical = make_pipeline(",
        "        FunctionTransformer(as_strings),",
        '        OneHotEncoder(handle_unknown="infrequent_if_exist", sparse_output=False,',
        '                      min_frequency=trial.suggest_int("min_frequency", 1, 50, log=True)),',
        "    )",
    ]


def _min_frequency(profile: Profile) -> int:
    """Rare categories merge into one 'infrequent' column: fewer, steadier columns."""
    return 5 if profile.n_rows < 20_000 else 20


# ------------------------------------------------------------------ candidates

def _one_hot(profile: Profile, scaling: str) -> Candidate:
    """Scaled numbers and one-hot categories: for linear models, kernels, neighbours."""
    one_hot = _has(profile, "categorical")
    if scaling == "standard":
        scaler, cls = "StandardScaler()", "sklearn.preprocessing.StandardScaler"
        name = "one_hot_scaled" if one_hot else "scaled"
        description = "median impute, standard scaling"
    else:
        n_quantiles = min(100, max(10, profile.n_rows // 2))
        # seeded: above 10,000 rows it fits its quantiles on a random subsample
        scaler = (f'QuantileTransformer(n_quantiles={n_quantiles}, output_distribution="normal", '
                  f'random_state={profile.seed})')
        cls = "sklearn.preprocessing.QuantileTransformer"
        name = "one_hot_quantile" if one_hot else "quantile_scaled"
        description = "impute, quantile-normal scaling"
    if one_hot:
        description += ", one-hot categories"
    imports = (cls, "sklearn.preprocessing.OneHotEncoder")
    body = _numeric_lines(profile, scaler, declared=True) + _one_hot_lines(profile)
    source = _source(profile, imports, body,
                     _column_transformer(profile, sparse=False))
    defaults = _declared_defaults(profile, impute_strategy="median")
    return candidate(SLOT, name, description, source, defaults)


def _ordinal(profile: Profile) -> Candidate:
    """For trees: categories coded 0..k-1 and typed as pandas categories, so that gradient
    boosting (HistGradientBoosting's ``categorical_features="from_dtype"``, LightGBM) splits
    them as categories rather than as ordered numbers; other models see the codes."""
    imports = ("sklearn.preprocessing.OrdinalEncoder",)
    body = _numeric_lines(profile, None, declared=False)
    transformer = _column_transformer(profile, sparse=False)
    if _has(profile, "categorical"):
        body += [
            "    categorical = make_pipeline(",
            "        FunctionTransformer(as_strings),",
            f"        # at most {_MAX_CATEGORIES} categories per column "
            "(HistGradientBoosting's limit)",
            '        OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,',
            f"                       max_categories={_MAX_CATEGORIES}),",
            "        FunctionTransformer(as_categories),",
            "    )",
        ]
        transformer += '.set_output(transform="pandas")'
    source = _source(profile, imports, body, transformer, categories=True)
    return candidate(SLOT, "ordinal", "median impute, categories kept as categories (for trees)",
                     source, {})


_AS_THEY_ARE = '''
from sklearn.preprocessing import FunctionTransformer


def build_preprocess(trial, columns):
    # The numbers as they are, without a copy: trees need no scaling, and on a large table
    # every transformed copy costs memory. (Its contract test fails if values are missing.)
    return FunctionTransformer()
'''


def _numbers_as_they_are() -> Candidate:
    """All-numeric large data: the frame goes to the model untouched (for trees)."""
    return candidate(SLOT, "numbers_as_is", "numbers as they are (no copy; for trees)",
                     _AS_THEY_ARE, {})


_TFIDF = {
    "words": ("tfidf_words", "TF-IDF of words and word pairs"),
    "chars": ("tfidf_chars", "TF-IDF of character n-grams"),
    "both": ("tfidf_words_chars", "TF-IDF of words and of character n-grams"),
}


def _tfidf(profile: Profile, kind: str) -> Candidate:
    name, description = _TFIDF[kind]
    imports = ("sklearn.feature_extraction.text.TfidfVectorizer",
               "sklearn.preprocessing.StandardScaler", "sklearn.preprocessing.OneHotEncoder",
               "sklearn.pipeline.make_union")
    body = _numeric_lines(profile, "StandardScaler()", declared=True) + _one_hot_lines(profile)
    if kind in ("words", "both"):
        body.append('    word_ngrams = trial.suggest_int("word_ngrams", 1, 2)')
    if kind in ("chars", "both"):
        body.append('    char_ngrams = trial.suggest_int("char_ngrams", 3, 5)')
    body += ["    tfidf = dict(",
             f'        min_df=trial.suggest_int("min_df", 1, {_min_df_high(profile)}),',
             '        max_features=trial.suggest_int("max_features", 2_000, 100_000, log=True),',
             "        sublinear_tf=True,",
             "    )"]
    words = "TfidfVectorizer(ngram_range=(1, word_ngrams), **tfidf)"
    chars = 'TfidfVectorizer(analyzer="char_wb", ngram_range=(2, char_ngrams), **tfidf)'
    if kind == "words":
        body.append(f"    vectorize = {words}")
    elif kind == "chars":
        body.append(f"    vectorize = {chars}")
    else:
        body += ["    vectorize = make_union(", f"        {words},", f"        {chars},", "    )"]
    body += [
        "    # One vectorizer per text column, each given the column name (1-D input).",
        "    text = [",
        '        (f"text_{i}", make_pipeline(FunctionTransformer(as_text), vectorize), column)',
        '        for i, column in enumerate(columns["text"])',
        "    ]",
    ]
    source = _source(profile, imports, body, _column_transformer(profile, sparse=True))
    defaults = _declared_defaults(profile, impute_strategy="median", min_df=1,
                                  max_features=_tfidf_max_features(profile))
    if kind in ("words", "both"):
        defaults["word_ngrams"] = 2
    if kind in ("chars", "both"):
        defaults["char_ngrams"] = 4
    return candidate(SLOT, name, description, source, defaults)


def _min_df_high(profile: Profile) -> int:
    """Few documents: a high min_df could leave a fold without vocabulary."""
    return 5 if profile.n_rows >= 1_000 else 2


def _tfidf_max_features(profile: Profile) -> int:
    return 20_000 if profile.n_rows <= 20_000 else 50_000


def _declared_defaults(profile: Profile, **values: object) -> dict[str, object]:
    """Defaults for the parameters the source declares (only those of present roles)."""
    defaults = dict(values)
    if not _has(profile, "numeric", "datetime"):
        defaults.pop("impute_strategy", None)
    if _has(profile, "categorical"):
        defaults["min_frequency"] = _min_frequency(profile)
    return defaults
