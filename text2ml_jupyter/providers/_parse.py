"""Reading an LLM's answer: candidate code blocks and the task-spec JSON.

Models format answers loosely: fences with or without a language (```python, ```py, ```,
~~~), prose before, between and after the blocks, an answer cut off before its closing
fence, or bare code with no fence at all. The readers here accept all of these and keep
only what is usable; they never raise on a malformed answer.

A block that defines the slot's builder but fails the static contract check is kept, with
status FAILED and the reason, so the engine can hand it back for repair; blocks that do not
define the builder at all (explanations, usage examples) are dropped.
"""

from __future__ import annotations

import ast
import json
import keyword
import re
import textwrap
from itertools import pairwise
from typing import Any

from .._syntax import parse_source
from ..candidates import FAILED, Candidate
from ..errors import CandidateError
from ..metrics import METRICS, TASK_TYPES, get_metric
from ..slots import Slot, check_source

_CODE_LANGUAGES = {"", "python", "py", "python3", "py3", "ipython"}

# A fenced block: the closing fence repeats the opening one (``` or ~~~) on its own line.
_FENCE = re.compile(
    r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w.+-]*)[^\n]*\n"
    r"(?P<body>.*?)^[ \t]*(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL)
_OPEN_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*(?P<lang>[\w.+-]*)[^\n]*\n", re.MULTILINE)

_HEADER = re.compile(
    r"^[ \t]*#[ \t]*(?P<field>name|description|defaults)[ \t]*:[ \t]*(?P<value>.*)$",
    re.MULTILINE | re.IGNORECASE)
_CODE_START = re.compile(r"^(from |import |def |class |@|#[ \t]*name[ \t]*:)", re.MULTILINE)

MAX_NAME = 40
MAX_DESCRIPTION = 120

_SUGGEST = {"suggest_float", "suggest_int", "suggest_categorical"}


# ------------------------------------------------------------------ code blocks

def code_blocks(text: str) -> list[str]:
    """The Python code blocks of an answer, in order.

    Fenced blocks come first choice; a last fence left open (an answer cut at its token
    limit) counts up to the end. Without any fence, the answer itself is code when it
    parses, or from its first code-looking line on (several ``# name:`` sections split).
    """
    text = (text or "").replace("\r\n", "\n")
    blocks, end = [], 0
    for match in _FENCE.finditer(text):
        if match.group("lang").lower() in _CODE_LANGUAGES:
            blocks.append(match.group("body"))
        end = match.end()
    opened = _OPEN_FENCE.search(text, end)
    if opened and opened.group("lang").lower() in _CODE_LANGUAGES:
        blocks.append(text[opened.end():])  # unclosed: the answer was cut off
    if blocks or opened:
        return [b for b in (textwrap.dedent(b).strip("\n") for b in blocks) if b.strip()]
    return _bare_code(text)


def _bare_code(text: str) -> list[str]:
    """Code written without fences, possibly with prose around it."""
    stripped = textwrap.dedent(text).strip("\n")
    if not stripped.strip():
        return []
    if _parses(stripped) and _CODE_START.search(stripped):
        sections = _split_on_names(stripped)
        return sections if all(_parses(s) for s in sections) else [stripped]
    start = _CODE_START.search(stripped)
    if start is None:
        return []
    return [_longest_parsing_prefix(s) for s in _split_on_names(stripped[start.start():])]


def _split_on_names(code: str) -> list[str]:
    """Several candidates written one after the other, each under its own ``# name:``."""
    starts = [m.start() for m in re.finditer(r"^#[ \t]*name[ \t]*:", code,
                                             re.MULTILINE | re.IGNORECASE)]
    if len(starts) < 2:
        return [code]
    if starts[0] != 0:
        starts[0] = 0  # imports above the first header belong to the first candidate
    return [code[a:b].strip("\n") for a, b in pairwise([*starts, len(code)])]


def _longest_parsing_prefix(code: str) -> str:
    """The code without trailing prose: its longest prefix of lines that parses (or all of
    it, when none does, so the syntax error is reported and can be repaired)."""
    lines = code.split("\n")
    for end in range(len(lines), 0, -1):
        candidate = "\n".join(lines[:end]).rstrip()
        if candidate and _parses(candidate):
            return candidate
    return code


def _parses(code: str) -> bool:
    try:
        parse_source(code)
    except (SyntaxError, ValueError):
        return False
    return True


# ------------------------------------------------------------------ candidates

def parse_candidates(text: str, slot: Slot, *, origin: str,
                     taken: set[str] | frozenset[str] = frozenset()) -> list[Candidate]:
    """Candidates for ``slot`` from an answer, names unique (also against ``taken``).

    Blocks without the slot's builder are dropped, as are exact duplicates. A block that
    fails ``check_source`` is returned with status FAILED and the reason.
    """
    defines = re.compile(rf"^def[ \t]+{re.escape(slot.function)}[ \t]*\(", re.MULTILINE)
    found: list[Candidate] = []
    names, sources = set(taken), set()
    for block in code_blocks(text):
        if not defines.search(block):
            continue
        header, source = split_header(block)
        if source in sources:
            continue
        sources.add(source)
        name = unique_name(sanitize_name(header.get("name", "")) or
                           f"{slot.name}_{len(found) + 1}", names)
        names.add(name)
        candidate = Candidate(slot=slot.name, name=name, source=source,
                              description=_one_line(header.get("description", "")),
                              origin=origin,
                              defaults=valid_defaults(source, header.get("defaults", "")))
        try:
            check_source(slot, source)
        except CandidateError as exc:
            candidate.status, candidate.reason = FAILED, str(exc)
        found.append(candidate)
    return found


def split_header(block: str) -> tuple[dict[str, str], str]:
    """(``# name:`` / ``# description:`` / ``# defaults:`` values, the code without those
    lines). Only the first occurrence of each field counts."""
    header: dict[str, str] = {}
    for match in _HEADER.finditer(block):
        header.setdefault(match.group("field").lower(), match.group("value").strip())
    code = _HEADER.sub("", block)
    code = re.sub(r"\n{3,}", "\n\n\n", code).strip("\n")  # at most two blank lines left
    return header, code + "\n"


def sanitize_name(raw: str) -> str:
    """A short snake_case identifier from whatever the model wrote ("" if nothing usable).

    Names become file names and study choices, so nothing but ``[a-z0-9_]`` survives.
    """
    raw = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", raw.strip().strip("`'\""))
    name = re.sub(r"[^0-9a-zA-Z]+", "_", raw).strip("_").lower()[:MAX_NAME].strip("_")
    if not name:
        return ""
    if name[0].isdigit():
        name = f"c_{name}"
    return f"{name}_" if keyword.iskeyword(name) else name


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``… when taken."""
    if name not in taken:
        return name
    n = 2
    while f"{name}_{n}" in taken:
        n += 1
    return f"{name}_{n}"


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_DESCRIPTION else line[:MAX_DESCRIPTION - 1] + "…"


# ------------------------------------------------------------------ defaults

def valid_defaults(source: str, raw: str | dict[str, Any]) -> dict[str, Any]:
    """The ``# defaults: {...}`` values that fit the candidate's own search space.

    Defaults are enqueued as the first trial's parameters, so a name the code does not
    suggest, a value outside a literal range or not among literal choices is dropped
    (Optuna would warn, then sample anyway).
    """
    values = raw if isinstance(raw, dict) else _loose_json(raw)
    if not isinstance(values, dict) or not values:
        return {}
    space = _search_space(source)
    kept: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(key, str) or key not in space:
            continue
        if value is not None and not isinstance(value, (str, int, float, bool)):
            continue
        method, bounds = space[key]
        if _fits(method, bounds, value):
            kept[key] = int(value) if method == "suggest_int" else value
    return kept


def _search_space(source: str) -> dict[str, tuple[str, tuple[Any, ...]]]:
    """name -> (suggest method, its literal (low, high) or (choices,)) of every
    ``trial.suggest_*`` call with a literal name; a bound that is not a literal is None."""
    try:
        tree = parse_source(source)
    except (SyntaxError, ValueError):
        return {}
    space: dict[str, tuple[str, tuple[Any, ...]]] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in _SUGGEST):
            continue
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        order = (("name", "choices") if node.func.attr == "suggest_categorical"
                 else ("name", "low", "high"))
        args = [node.args[i] if i < len(node.args) else keywords.get(field)
                for i, field in enumerate(order)]
        name = _literal(args[0])
        if isinstance(name, str):
            space[name] = (node.func.attr, tuple(_literal(a) for a in args[1:]))
    return space


def _literal(node: ast.AST | None) -> Any:
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _fits(method: str, bounds: tuple[Any, ...], value: Any) -> bool:
    if method == "suggest_categorical":
        choices = bounds[0] if bounds else None
        return not isinstance(choices, (list, tuple)) or value in list(choices)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if method == "suggest_int" and float(value) != int(value):
        return False
    if len(bounds) == 2 and all(isinstance(b, (int, float)) for b in bounds):
        return bounds[0] <= value <= bounds[1]
    return True


# ------------------------------------------------------------------ the task spec

def parse_spec(text: str) -> dict[str, Any] | None:
    """The task-spec answer as ``{"target", "task_type", "metric", "pos_label",
    "reasoning"}``, or None when there is no JSON object with a target column name.

    ``task_type`` and ``metric`` are normalized (``metric`` to a key of metrics.METRICS);
    a value that cannot be normalized becomes None, meaning "infer it from the data".
    """
    data = _loose_json(text)
    if not isinstance(data, dict):
        return None
    target = data.get("target", data.get("target_column"))
    if not isinstance(target, (str, int)) or isinstance(target, bool) or str(target) == "":
        return None
    return {
        "target": str(target).strip(),
        "task_type": _task_type(data.get("task_type")),
        "metric": _metric(data.get("metric")),
        "pos_label": data.get("pos_label"),
        "reasoning": _one_line(str(data.get("reasoning") or "")),
    }


def _task_type(value: Any) -> str | None:
    text = str(value or "").strip().lower().replace("-", "").replace("_", " ")
    if text in TASK_TYPES:
        return text
    if "regress" in text:
        return "regression"
    if "binary" in text or "two class" in text:
        return "binary"
    if "multiclass" in text or "multi class" in text or "multinomial" in text:
        return "multiclass"
    return None  # "classification" alone does not say binary or multiclass: the data will


def _metric(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return get_metric(value).name
    except ValueError:
        lowered = value.strip().lower()
        return lowered if lowered in METRICS else None


def _loose_json(text: str) -> Any:
    """The first JSON object in ``text``, forgiving fences, prose around it, trailing
    commas, single quotes and Python's True/False/None. None when there is none."""
    text = (text or "").strip()
    if not text:
        return None
    for chunk in _objects(text):
        for attempt in (chunk, re.sub(r",\s*([}\]])", r"\1", chunk)):
            try:
                return json.loads(attempt)
            except ValueError:
                pass
            try:
                value = ast.literal_eval(attempt)  # single quotes, True/False/None
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
            if isinstance(value, dict):
                return value
        lowered = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False",
                         re.sub(r"\bnull\b", "None", re.sub(r",\s*([}\]])", r"\1", chunk))))
        try:
            value = ast.literal_eval(lowered)  # JSON literals with single-quoted strings
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(value, dict):
            return value
    return None


def _objects(text: str) -> list[str]:
    """Balanced ``{...}`` spans in ``text`` (strings respected), outermost first in order."""
    spans, depth, start, quote, escaped = [], 0, -1, "", False
    for i, char in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
            continue
        if char in "\"'" and depth:
            quote = char
        elif char == "{":
            if depth == 0:
                start = i
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                spans.append(text[start:i + 1])
    if depth and start >= 0:
        spans.append(text[start:] + "}" * depth)  # cut off: try closing it
    return spans
