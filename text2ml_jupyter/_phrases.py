"""Reading the task text: which column it asks to predict, the metric, a named class.

Deliberately simple and deterministic (no model): the text is split into tokens, each token
gets a *zone* from the cue words before it ("predict ..." -> target, "from ..." -> input,
"optimize ..." -> metric), and column names and values are matched against the tokens of
each zone, with light stemming so that "survival", "survive" and "survived" meet. The data
side (column roles, what values fit the task) lives in ``spec``; it is passed in here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import Any
from collections.abc import Callable, Iterable, Sequence

from .errors import Text2MLError
from .metrics import ALIASES

CLASSIFICATION = "classification"  # a task-kind hint: binary or multiclass, by the values
NOT_A_TARGET = -6.0  # the ``fit`` of a column that cannot be a target (identifier, free text)

TARGET_ZONE = "target"
INPUT_ZONE = "input"
METRIC_ZONE = "metric"
OTHER_ZONE = "other"

STOPWORDS = frozenset(
    "a an the of in on for to is are was were be been being will would can could should and "
    "or it its it's their his her this that these those each every per by with from at as "
    "what which whether how much many do does did we i you they our my your about into than "
    "s if then there here please some any all based using given use want like".split()
)

# Cue phrases (token tuples) that open a zone; the first matching cue at a position wins.
_CUES: list[tuple[tuple[str, ...], str]] = [
    (("based", "on"), INPUT_ZONE), (("how", "much"), TARGET_ZONE),
    (("how", "many"), TARGET_ZONE), (("is", "it"), TARGET_ZONE),
    (("care", "about"), METRIC_ZONE), (("measured", "by"), METRIC_ZONE),
    (("scored", "by"), METRIC_ZONE), (("evaluated", "by"), METRIC_ZONE),
    *[((w,), TARGET_ZONE) for w in (
        "predict", "predicts", "predicting", "prediction", "predictions", "classify",
        "classifying", "estimate", "estimating", "forecast", "forecasting", "flag",
        "flagging", "detect", "detecting", "whether", "which", "determine", "identify",
        "target", "will", "what", "guess", "tell")],
    *[((w,), INPUT_ZONE) for w in (
        "from", "using", "use", "uses", "given", "by", "features", "inputs", "ignore",
        "ignoring", "exclude", "excluding", "except", "without")],
    *[((w,), METRIC_ZONE) for w in (
        "optimize", "optimise", "optimizing", "maximize", "maximise", "minimize", "minimise",
        "report", "metric", "evaluate")],
]
_TARGET_CUE_WORDS = frozenset(w for cue, zone in _CUES if zone == TARGET_ZONE for w in cue)
_QUESTION_WORDS = frozenset({"is", "are", "was", "were", "does", "do", "did", "can", "has"})
_LOCATION_WORDS = frozenset({"column", "columns", "field", "fields", "variable", "feature"})
_LOCATION_PREPS = frozenset({"in", "into", "from", "using", "use", "uses", "given"})

_CLASSIFICATION_CUES = {"classify": 2, "classification": 2, "classifier": 2, "whether": 1,
                        "which": 1, "flag": 1, "detect": 1, "categorize": 2, "label": 1}
_REGRESSION_CUES = {"regression": 2, "regress": 2, "estimate": 1, "forecast": 1,
                    "amount": 1, "price": 1, "value": 1, "cost": 1, "count": 1, "revenue": 1,
                    "sales": 1, "salary": 1, "income": 1, "quantity": 1, "temperature": 1}
_REGRESSION_PHRASES = ("how much", "how many", "number of")

# Words a task says for a column's name (matched only after 'predict', 'how much', ...).
_SYNONYMS = {"price": ("cost", "worth"), "cost": ("price",), "value": ("worth",),
             "salary": ("pay", "wage", "wages"), "income": ("earnings",),
             "survived": ("survival", "live", "lived"), "churn": ("leave", "cancel")}

# Metrics people name that the registry does not offer: noted, never silently replaced.
UNSUPPORTED_METRICS = ("mean absolute percentage error", "median absolute error",
                       "mean squared error", "precision", "recall", "mape", "mse", "mcc",
                       "matthews", "kappa")

_COMPARATOR_WORDS = {
    ">=": [("at", "least")], "=>": [("at", "least")],
    "<=": [("at", "most"), ("up", "to"), ("less", "than"), ("no", "more", "than"),
           ("not", "more", "than"), ("under",), ("below",)],
    "=<": [("at", "most"), ("up", "to"), ("less", "than")],
    ">": [("more", "than"), ("greater", "than"), ("over",), ("above",), ("higher", "than"),
          ("exceeds",), ("exceeding",), ("exceed",)],
    "<": [("less", "than"), ("fewer", "than"), ("under",), ("below",), ("lower", "than")],
}
_COMPARATOR_SUFFIX = {">=": ("or", "more"), "=>": ("or", "more"), "<=": ("or", "less"),
                      "=<": ("or", "less")}
# Class values too common in prose to be taken as a mention of that class.
_GENERIC_VALUES = frozenset({"yes", "no", "true", "false", "y", "n", "t", "f", "none", "nan",
                             "other", "unknown", "na", "null"})

_TOKEN = re.compile(r"\d+\.\d+|[a-z0-9²]+|[.;!?]")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+|²")
_SUFFIXES = (("ation", ""), ("ies", "y"), ("ied", "y"), ("ing", ""), ("ed", ""), ("es", ""),
             ("al", ""), ("ly", ""), ("s", ""), ("e", ""))


@lru_cache(maxsize=4096)
def stem(word: str) -> str:
    """A light suffix-stripping stem: survival/survive/survived -> surviv, prices -> pric."""
    for _ in range(2):
        for suffix, replacement in _SUFFIXES:
            if (word.endswith(suffix) and len(word) - len(suffix) + len(replacement) >= 3
                    and not (suffix == "s" and word.endswith("ss"))):
                word = word[: len(word) - len(suffix)] + replacement
                break
        else:
            break
    return word


def words(text: str) -> list[str]:
    """Lower-case word tokens of free text (punctuation dropped, '50K' -> '50k')."""
    return [t for t in _TOKEN.findall(str(text).lower()) if t not in ".;!?"]


def name_words(name: Any) -> list[str]:
    """Words of a column name: 'SalePrice', 'sale_price' and 'Sale Price' -> ['sale', 'price']."""
    parts = re.split(r"[^A-Za-z0-9²]+", str(name))
    return [w.lower() for part in parts for w in _CAMEL.findall(part)]


def _content(tokens: Sequence[str]) -> list[str]:
    kept = [t for t in tokens if t not in STOPWORDS]
    return kept or list(tokens)


@dataclass
class Match:
    """How strongly the text points at one column as the target, and why."""

    score: float = 0.0
    kind: str = ""  # phrase | acronym | overlap | value | mention
    evidence: str = ""
    input_penalty: float = 0.0

    @property
    def total(self) -> float:
        return self.score - self.input_penalty


class ParsedText:
    """The task text as tokens with zones, ready for matching names, values and classes."""

    def __init__(self, text: str) -> None:
        self.text = str(text or "")
        raw = _TOKEN.findall(self.text.lower())
        self.tokens: list[str] = []
        self.zones: list[str] = []
        zone = OTHER_ZONE
        i = 0
        while i < len(raw):
            if raw[i] in ".;!?":
                zone = OTHER_ZONE
                i += 1
                continue
            if raw[i] in _QUESTION_WORDS and (i == 0 or raw[i - 1] in ".;!?"):
                zone = TARGET_ZONE  # 'Is the customer a smoker?', 'Did they survive?'
            for cue, cue_zone in _CUES:
                if tuple(raw[i:i + len(cue)]) == cue:
                    zone = cue_zone
                    break
            self.tokens.append(raw[i])
            self.zones.append(zone)
            i += 1
        self.stems = [stem(t) for t in self.tokens]
        self.input_locations = self._input_locations()

    def _input_locations(self) -> list[tuple[str, ...]]:
        """Stems of names in 'in the X column' outside a target zone: inputs, not targets."""
        found = []
        for i, token in enumerate(self.tokens):
            if token not in _LOCATION_WORDS:
                continue
            j = i - 1
            while j >= 0 and i - j <= 5 and self.tokens[j] not in _LOCATION_PREPS:
                j -= 1
            if j < 0 or i - j > 5 or self.zones[j] == TARGET_ZONE:
                continue
            name = [s for s, t in zip(self.stems[j + 1:i], self.tokens[j + 1:i], strict=True)
                    if t not in ("the", "a", "an")]
            if name:
                found.append(tuple(_content(name)))
        return found

    def target_words(self) -> list[str]:
        """The words after the first 'predict / whether / how much...' cue, up to the next
        zone: what the text asks to predict, for messages when no column matches."""
        found: list[str] = []
        for token, zone in zip(self.tokens, self.zones, strict=True):
            if zone == TARGET_ZONE:
                if token not in _TARGET_CUE_WORDS and token not in STOPWORDS:
                    found.append(token)
            elif found:
                break
        return found

    # -- matching ------------------------------------------------------------------------

    def _find(self, seq: Sequence[str]) -> list[int]:
        """Start positions (indices into tokens) where stems ``seq`` occur, stopwords skipped."""
        index = [i for i, t in enumerate(self.tokens) if t not in STOPWORDS]
        hay = [self.stems[i] for i in index]
        n = len(seq)
        return [index[k] for k in range(len(hay) - n + 1) if n and hay[k:k + n] == list(seq)]

    def name_match(self, column: Any) -> Match:
        """Score one column name against the text: phrase, joined words, initials, overlap."""
        raw = name_words(column)
        if not raw:
            return Match()
        content = _content(raw)
        stems = [stem(w) for w in content]
        best = Match()
        weights = {TARGET_ZONE: 10.0, OTHER_ZONE: 4.0, METRIC_ZONE: 0.0}

        def consider(score: float, kind: str, evidence: str) -> None:
            nonlocal best
            if score > best.score:
                best = Match(score, kind, evidence)

        penalty = 0.0
        for pos in self._find(stems):
            zone = self.zones[pos]
            if zone == INPUT_ZONE:
                penalty = 8.0
            else:
                consider(weights[zone] + len(stems) - 1, "phrase" if zone == TARGET_ZONE
                         else "mention", " ".join(self.tokens[pos:pos + len(stems)]))
        joined = "".join(raw)
        if len(joined) >= 4:  # 'saleprice' written as 'sale price', 'SalePrice' as 'saleprice'
            for zone in self._joined_zones(joined):
                if zone == INPUT_ZONE:
                    penalty = 8.0
                else:
                    consider(weights[zone] + 1, "phrase" if zone == TARGET_ZONE else "mention",
                             joined)
        if len(raw) == 1 and 3 <= len(joined) <= 6 and joined.isalpha():
            for phrase, zone in self._initials(joined):
                if zone == INPUT_ZONE:
                    penalty = 8.0
                else:
                    consider({TARGET_ZONE: 8.0, OTHER_ZONE: 3.0}.get(zone, 0.0), "acronym",
                             phrase)
        for word in content:
            for synonym in _SYNONYMS.get(word, ()):
                for pos in self._find([stem(synonym)]):
                    if self.zones[pos] == TARGET_ZONE:
                        consider(5.0, "synonym", self.tokens[pos])
        if len(stems) > 1:
            for zone, weight in ((TARGET_ZONE, 6.0), (OTHER_ZONE, 2.5)):
                present = {s for s, z in zip(self.stems, self.zones, strict=True) if z == zone}
                hit = [w for w, s in zip(content, stems, strict=True) if s in present]
                consider(weight * len(hit) / len(stems), "overlap", " ".join(hit))
        if tuple(stems) in self.input_locations:
            penalty = 8.0
        best.input_penalty = penalty
        return best

    def _joined_zones(self, joined: str) -> Iterable[str]:
        """The zone of every run of 1-3 tokens that glued together spells ``joined``."""
        for n in (1, 2, 3):
            for i in range(len(self.tokens) - n + 1):
                glued = "".join(self.tokens[i:i + n])
                if glued == joined or stem(glued) == stem(joined):
                    yield self.zones[i]

    def _initials(self, acronym: str) -> Iterable[tuple[str, str]]:
        n = len(acronym)
        for i in range(len(self.tokens) - n + 1):
            span = self.tokens[i:i + n]
            if (span[0] not in STOPWORDS and span[-1] not in STOPWORDS
                    and all(t[0].isalpha() for t in span)
                    and "".join(t[0] for t in span) == acronym):
                yield " ".join(span), self.zones[i]

    def value_mentions(self, values: Iterable[Any]) -> dict[Any, list[str]]:
        """Zones in which each value is mentioned; longer phrases claim their words first."""
        hits: list[tuple[int, int, Any]] = []
        for value in values:
            for phrase in _value_phrases(value):
                n = len(phrase)
                for i in range(len(self.stems) - n + 1):
                    if self.stems[i:i + n] == list(phrase):
                        hits.append((i, i + n, value))
        hits.sort(key=lambda h: h[0] - h[1])  # longest first
        taken: set[int] = set()
        found: dict[Any, list[str]] = {}
        for start, end, value in hits:
            if taken.isdisjoint(range(start, end)):
                taken.update(range(start, end))
                found.setdefault(value, []).append(self._zone_of_mention(start))
        return found

    def _zone_of_mention(self, start: int) -> str:
        """'F1 for spam', 'positive class spam' name the positive class: a metric mention."""
        before = self.tokens[max(0, start - 3):start]
        if "positive" in before or ("for" in before and (
                self.zones[start] == METRIC_ZONE or "f1" in before)):
            return "positive"
        return self.zones[start]

    def qualified(self, column: Any, values: Sequence[Any]) -> bool:
        """Whether the name follows one of its own values: 'a passenger in *first class*'.

        Such a mention describes the rows (a condition on an input), not what to predict.
        """
        stems = [stem(w) for w in _content(name_words(column))]
        starts = set(self._find(stems))
        for value in values:
            for phrase in _value_phrases(value):
                n = len(phrase)
                if any(self.stems[p - n:p] == list(phrase) for p in starts if p >= n):
                    return True
        return False

    def value_match(self, values: Sequence[Any]) -> Match:
        """Score a low-cardinality column by mentions of its values in the text."""
        mentions = self.value_mentions(v for v in values if not _is_generic(v))
        best = Match()
        for value, zones in mentions.items():
            score = 5.0 if TARGET_ZONE in zones else 3.0 if set(zones) - {INPUT_ZONE} else 0.0
            if score > best.score:
                best = Match(score, "value", str(value))
        return best


def _is_generic(value: Any) -> bool:
    """Values too common in prose (numbers, yes/no, stopwords) to count as a mention."""
    text = str(value).strip().lower()
    return (not isinstance(value, str) or text in _GENERIC_VALUES
            or len(re.sub(r"[^a-z0-9]", "", text)) < 2 or text.replace(".", "", 1).isdigit()
            or all(w in STOPWORDS for w in words(text)))


def _value_phrases(value: Any) -> list[tuple[str, ...]]:
    """Stemmed token phrases that mention a value: '>50K' -> ('more','than','50k'), ('50k',)."""
    text = str(value).strip().lower()
    match = re.match(r"(<=|>=|=<|=>|<|>)\s*(.+)", text)
    op, rest = (match.group(1), match.group(2)) if match else ("", text)
    core = tuple(stem(w) for w in words(rest))
    if not core:
        return []
    phrases = [core]
    for lead in _COMPARATOR_WORDS.get(op, []):
        phrases.append(tuple(stem(w) for w in lead) + core)
    if op in _COMPARATOR_SUFFIX:
        phrases.append(core + tuple(stem(w) for w in _COMPARATOR_SUFFIX[op]))
    return phrases


def _normalized(text: str) -> str:
    text = str(text).lower().replace("r^2", "r²").replace("-", " ").replace("_", " ")
    return re.sub(r"\s+", " ", text)


def _occurrences(text: str, phrase: str) -> list[tuple[int, int]]:
    pattern = r"(?<![a-z0-9²])" + re.escape(phrase) + r"(?![a-z0-9²])"
    return [(m.start(), m.end()) for m in re.finditer(pattern, text)]


def find_metric(text: str) -> tuple[str | None, str | None]:
    """(metric name, the words used) for the metric the text names, or (None, None).

    A metric after 'optimize'/'report'/... wins over one merely mentioned; otherwise the
    first one mentioned. Longer spellings win over ones they contain ('roc auc' vs 'auc').
    """
    norm = _normalized(text)
    hits = []
    for alias, name in ALIASES.items():
        phrase = _normalized(alias)
        hits += [(s, e, name, phrase) for s, e in _occurrences(norm, phrase)]
    hits = [h for h in hits
            if not any(o[0] <= h[0] and h[1] <= o[1] and (o[1] - o[0]) > (h[1] - h[0])
                       for o in hits)]
    if not hits:
        return None, None
    cue = re.compile(r"(optimi[sz]e|maximi[sz]e|minimi[sz]e|report|metric|care about|"
                     r"measured|scored|evaluate)[^.;!?]*$")
    cued = [h for h in hits if cue.search(norm[:h[0]])]
    start, _, name, phrase = min(cued or hits)
    return name, phrase


def unsupported_metric(text: str) -> str | None:
    """A metric the text names that the registry does not offer (for a visible note)."""
    norm = _normalized(text)
    supported = [span for alias in ALIASES for span in _occurrences(norm, _normalized(alias))]
    for phrase in UNSUPPORTED_METRICS:
        for s, e in _occurrences(norm, phrase):
            if not any(a <= s and e <= b for a, b in supported):
                return phrase
    return None


def task_hint(parsed: ParsedText, metric_name: str | None,
              metric_tasks: Sequence[str] = ()) -> str | None:
    """'classification', 'regression' or None, from cue words and the metric named."""
    norm = " ".join(parsed.tokens)
    cls = sum(w for cue, w in _CLASSIFICATION_CUES.items() if cue in parsed.tokens)
    cls += 2 if (("is", "it") in pairwise(parsed.tokens)) else 0
    reg = sum(2 for p in _REGRESSION_PHRASES if re.search(rf"\b{p}\b", norm))
    target_stems = {s for s, z in zip(parsed.stems, parsed.zones, strict=True) if z == TARGET_ZONE}
    reg += sum(w for cue, w in _REGRESSION_CUES.items()
               if stem(cue) in target_stems or (w == 2 and cue in parsed.tokens))
    if metric_name is not None:
        if "regression" in metric_tasks:
            reg += 2
        else:
            cls += 2
    if cls > reg:
        return CLASSIFICATION
    if reg > cls:
        return "regression"
    return None


_HORIZON = re.compile(r"\bnext\s+(\d+|a few|few|several|two|three|four|five|six|seven|ten|"
                      r"twelve|fourteen|thirty)\s+(minutes?|hours?|days?|weeks?|months?|"
                      r"quarters?|years?)\b")
_CLUSTERING = re.compile(r"\b(cluster(s|ing)?|segment(ation)?\s+(the\s+)?(customers|users|"
                         r"clients|people|visitors|shoppers)|segmentation|unsupervised|"
                         r"group\s+(the\s+)?(customers|users|clients)\s+into)\b")
_IMAGES = re.compile(r"\b(images?|photos?|photographs?|pictures?|pixels?)\b")


def time_series_cue(text: str, hint: str | None) -> str | None:
    """The words that ask for a time-series forecast ('next 7 days'), if any."""
    norm = _normalized(text)
    if m := re.search(r"\btime series\b", norm):
        return m.group(0)
    m = _HORIZON.search(norm)
    if m and hint != CLASSIFICATION:
        return m.group(0)
    return None


def clustering_cue(text: str) -> str | None:
    m = _CLUSTERING.search(_normalized(text))
    return m.group(0) if m else None


def image_cue(text: str) -> str | None:
    m = _IMAGES.search(_normalized(text))
    return m.group(0) if m else None


# -- deciding the target ---------------------------------------------------------------------

_TARGET_NAMES = ("target", "label", "outcome")
_MIN_SCORE = 3.0
_TIE_MARGIN = 0.5
_QUALIFIED_PENALTY = 4.0
_CLUSTERING_WHAT = "Clustering (grouping rows without a target)"
_IMAGES_WHAT = "Learning from images"


def choose_target(parsed: ParsedText, columns: Sequence[Any], values: dict[Any, list[Any]],
                  fit: Callable[[Any], float], has_image_paths: Callable[[], bool],
                  notes: list[str],
                  unfit_reason: Callable[[Any], str | None] = lambda column: None) -> Any:
    """The column the text asks to predict, confirmed by the data; raises when unclear.

    ``values`` holds the values of low-cardinality columns (matched against the text);
    ``fit(column)`` says how well a column's values fit the kind of task the text asks for
    (positive: fits; negative: an identifier, free text, or the wrong kind of values);
    ``unfit_reason(column)`` says why a column cannot be a target at all, if it cannot.
    """
    scored: list[tuple[float, int, Any, Match]] = []
    for order, column in enumerate(columns):
        match = parsed.name_match(column)
        if column in values:
            by_value = parsed.value_match(values[column])
            if by_value.score > match.score:
                by_value.input_penalty = match.input_penalty
                match = by_value
            elif match.kind == "phrase" and parsed.qualified(column, values[column]):
                match.input_penalty += _QUALIFIED_PENALTY
        score = match.total
        if score > 0:
            score += fit(column)
        scored.append((score, -order, column, match))
    scored.sort(key=lambda s: s[:2], reverse=True)
    best_score, _, best, match = scored[0]
    runner_up = scored[1][0] if len(scored) > 1 else float("-inf")

    if best_score >= _MIN_SCORE and best_score - runner_up >= _TIE_MARGIN:
        if (cue := clustering_cue(parsed.text)) and match.kind != "phrase":
            raise unsupported_error(_CLUSTERING_WHAT, cue)
        if (cue := image_cue(parsed.text)) and has_image_paths():
            raise unsupported_error(_IMAGES_WHAT, cue)
        if (note := _match_note(best, match)) is not None:
            notes.append(note)
        return best
    if best_score < _MIN_SCORE:
        for cue_of, what in ((clustering_cue, _CLUSTERING_WHAT), (image_cue, _IMAGES_WHAT)):
            if cue := cue_of(parsed.text):
                raise unsupported_error(what, cue)
        by_name = [c for c in columns
                   if str(c).strip().lower() in _TARGET_NAMES and fit(c) > NOT_A_TARGET]
        if len(by_name) == 1:
            notes.append(f"Target {by_name[0]!r} chosen by its name: the text names no column "
                         "(pass target='...' to choose another).")
            return by_name[0]
        problem = _no_target_problem(parsed, scored, unfit_reason)
    else:
        tied = [s[2] for s in scored if best_score - s[0] < _TIE_MARGIN]
        problem = f"The text fits several columns equally well: {listing(tied)}."
    matched = [s[2] for s in scored if s[0] > 0]
    rest = sorted((c for c in reversed(columns) if c not in matched),
                  key=lambda c: (str(c).strip().lower() not in _TARGET_NAMES,
                                 fit(c) <= NOT_A_TARGET))
    likely = matched + rest
    raise Text2MLError(problem, f"Name the target with target={likely[0]!r} (or --target "
                                f"{likely[0]} on the command line). Likely columns: "
                                f"{listing(likely, 6)}.")


def _no_target_problem(parsed: ParsedText, scored: list[tuple[float, int, Any, Match]],
                       unfit_reason: Callable[[Any], str | None]) -> str:
    """Why no column was chosen: the named column cannot be a target, or nothing matches
    the words after 'predict', or the text names nothing to predict at all."""
    named = sorted(scored, key=lambda s: (s[3].total, s[1]), reverse=True)
    if named and named[0][3].total >= _MIN_SCORE and (
            len(named) == 1 or named[0][3].total - named[1][3].total >= _TIE_MARGIN):
        column = named[0][2]
        if (reason := unfit_reason(column)) is not None:
            return f"The text asks to predict {column!r}, but {reason}."
    asked = parsed.target_words()
    if asked:
        return (f"Could not tell from the text which column to predict: no column matches "
                f"{' '.join(asked)!r}.")
    return "Could not tell from the text which column to predict."


def _match_note(column: Any, match: Match) -> str | None:
    """A visible note when the target was chosen on weaker evidence than its name."""
    why = {
        "mention": "the text mentions it, though not after a word like 'predict'",
        "acronym": f"its name is the initials of '{match.evidence}' in the text",
        "overlap": f"the text mentions '{match.evidence}', part of its name",
        "synonym": f"the text asks about '{match.evidence}'",
        "value": f"the text mentions its value {match.evidence!r}",
    }.get(match.kind)
    if why is None:
        return None
    return f"Target {column!r} chosen because {why} (pass target='...' to choose another)."


def named_class(parsed: ParsedText, classes: Sequence[Any]) -> Any:
    """The one class the text names ('F1 for spam', 'earns more than 50K'), else None.

    'positive class X' / 'F1 for X' outweigh a mention after 'predict', which outweighs any
    other mention; values common in prose (yes, 1, true) count only in the first form.
    """
    weights = {"positive": 3, TARGET_ZONE: 2, OTHER_ZONE: 1, METRIC_ZONE: 1}
    votes = {}
    for value, zones in parsed.value_mentions(classes).items():
        usable = [z for z in zones if z == "positive" or not _is_generic(value)]
        votes[value] = max((weights.get(z, 0) for z in usable), default=0)
    ranked = sorted(votes.values(), reverse=True)
    if ranked and ranked[0] > 0 and (len(ranked) == 1 or ranked[0] > ranked[1]):
        return next(v for v, w in votes.items() if w == ranked[0])
    return None


def unsupported_error(what: str, cue: str) -> Text2MLError:
    """The error for a kind of task the project does not do (yet)."""
    return Text2MLError(
        f"{what} is not supported yet (the text says {cue!r}). text2ml builds supervised "
        "models that predict one column of a table from the other columns.",
        "Rephrase the task as predicting a column of the data, and name it with "
        "target='...' (or --target).")


def listing(items: Sequence[Any], limit: int = 10) -> str:
    """'a', 'b', ... (3 more): a short, quoted list for messages."""
    shown = ", ".join(repr(i) for i in items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")
