"""Source rewrites that keep comments and layout: every edit is a text splice at AST spans.

``ast.unparse`` would drop a candidate's comments and reflow its code; here the tree is only
used to *find* spans (``lineno``/``col_offset``/``end_lineno``/``end_col_offset``), and the
original text is edited in place. Three rewrites serve ``program``:

* :func:`bind` writes a trial's hyperparameters into a candidate as literals and removes
  the ``trial`` parameter;
* :func:`hoist_imports` lifts module-level imports out of a source, so the program can
  gather and de-duplicate them in one place;
* :func:`rename_globals` renames module-level names, so helpers of two candidates with the
  same name do not overwrite each other once the candidates share one namespace.
"""

from __future__ import annotations

import ast
import io
import math
import re
import tokenize
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, NamedTuple

from ._syntax import parse_source

# suggest method -> (kind, its positional parameters, in order)
_SUGGEST: dict[str, tuple[str, tuple[str, ...]]] = {
    "suggest_float": ("float", ("name", "low", "high")),
    "suggest_int": ("int", ("name", "low", "high")),
    "suggest_categorical": ("categorical", ("name", "choices")),
    "suggest_uniform": ("float", ("name", "low", "high")),
    "suggest_loguniform": ("float", ("name", "low", "high")),
    "suggest_discrete_uniform": ("float", ("name", "low", "high", "q")),
}

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)

# Parents in which any expression can stand without parentheses.
_SAFE_PARENTS = (ast.keyword, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.Assign,
                 ast.AnnAssign, ast.AugAssign, ast.Return, ast.Expr, ast.FormattedValue)


# --------------------------------------------------------------------------- text spans


class _Text:
    """The source with newlines normalized, and AST positions (UTF-8 byte columns) mapped
    to string offsets."""

    def __init__(self, source: str) -> None:
        self.source = source.replace("\r\n", "\n").replace("\r", "\n")
        self.lines = self.source.split("\n")
        self._starts = [0]
        for line in self.lines:
            self._starts.append(self._starts[-1] + len(line) + 1)

    def offset(self, lineno: int, col: int) -> int:
        line = self.lines[lineno - 1]
        if not line.isascii():
            col = len(line.encode("utf-8")[:col].decode("utf-8"))
        return self._starts[lineno - 1] + col

    def span(self, node: Any) -> tuple[int, int]:
        return (self.offset(node.lineno, node.col_offset),
                self.offset(node.end_lineno, node.end_col_offset))

    def segment(self, node: Any) -> str:
        start, end = self.span(node)
        return self.source[start:end]

    def line_end(self, lineno: int) -> int:
        return self._starts[lineno] - 1


Edit = tuple[int, int, str]  # (start, end, replacement)


def _apply(source: str, edits: Iterable[Edit]) -> str:
    """Splice non-overlapping edits into ``source`` (insertions have start == end)."""
    ordered = sorted(edits, key=lambda e: (e[0], e[1]))
    for (s1, e1, _), (s2, _, _) in pairwise(ordered):
        if s2 < e1:
            raise ValueError(f"internal error: overlapping source edits at offsets {s1} and {s2}")
    parts, last = [], 0
    for start, end, text in ordered:
        parts.append(source[last:start])
        parts.append(text)
        last = end
    parts.append(source[last:])
    return "".join(parts)


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def tidy_blank_lines(source: str) -> str:
    """Strip leading/trailing blank lines and collapse runs of blank lines to two (blank
    lines inside multi-line strings are content, and stay)."""
    inside: set[int] = set()  # 0-based lines that continue a multi-line token
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.end[0] > tok.start[0]:
                inside.update(range(tok.start[0], tok.end[0]))
    except (tokenize.TokenError, SyntaxError):
        return source.strip("\n") + "\n"
    kept: list[str] = []
    blank_run = 0
    for i, line in enumerate(source.split("\n")):
        blank_run = blank_run + 1 if not line.strip() and i not in inside else 0
        if blank_run <= 2:
            kept.append(line)
    return "\n".join(kept).strip("\n") + "\n"


# --------------------------------------------------------------------------- literals


def literal(value: Any) -> str:
    """Python source for a hyperparameter value (exact: floats keep every digit).

    Strings use double quotes when they can; numpy scalars become Python scalars.
    """
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalar -> Python scalar
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value):
            return 'float("nan")'
        if math.isinf(value):
            return 'float("inf")' if value > 0 else 'float("-inf")'
        return repr(value)
    if isinstance(value, str):
        return py_str(value)
    raise ValueError(f"cannot write the hyperparameter value {value!r} "
                     f"({type(value).__name__}) as a literal: use None, bool, int, float or str")


def py_str(text: str) -> str:
    """A string literal, double-quoted when no escaping is needed (as Black writes it)."""
    if '"' not in text and "\\" not in text and text.isprintable():
        return f'"{text}"'
    return repr(text)


def _wrap(text: str, node: ast.AST, parent: ast.AST | None) -> str:
    """Parenthesize ``text`` if putting it where ``node`` was could change precedence."""
    try:
        expr = parse_source(text.strip(), mode="eval").body
    except SyntaxError:
        return f"({text})"
    if isinstance(expr, ast.Constant) and isinstance(expr.value, (int, float, complex)) \
            and not isinstance(expr.value, bool):
        # 3.real is a syntax error; every other context is fine.
        return f"({text})" if isinstance(parent, ast.Attribute) else text
    if isinstance(expr, (ast.Constant, ast.Name, ast.Call, ast.Attribute, ast.Subscript,
                         ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp,
                         ast.SetComp, ast.JoinedStr)):
        return text
    if parent is None or isinstance(parent, _SAFE_PARENTS) \
            or (isinstance(parent, ast.Call) and node is not parent.func):
        return text
    return f"({text})"


# --------------------------------------------------------------------------- binding


@dataclass
class _Suggest:
    node: ast.Call
    kind: str
    name: str
    args: dict[str, ast.expr]
    start: int
    end: int


def _parse_suggest(call: ast.Call, method: str, text: _Text) -> _Suggest:
    kind, positional = _SUGGEST[method]
    args: dict[str, ast.expr] = dict(zip(positional, call.args, strict=False))
    args.update({k.arg: k.value for k in call.keywords if k.arg})
    where = f"line {call.lineno}: {text.segment(call)!r}"
    name_node = args.get("name")
    if not (isinstance(name_node, ast.Constant) and isinstance(name_node.value, str)):
        raise ValueError(f"{method} needs its hyperparameter name as a string literal to be "
                         f"bound to a value ({where})")
    start, end = text.span(call)
    return _Suggest(call, kind, name_node.value, args, start, end)


def _default(s: _Suggest, render: Any, text: _Text) -> str:
    """The value an untaken branch gets: the first choice, or the low bound (as Optuna's
    first values and the contract tests' DefaultTrial would pick)."""
    if s.kind == "categorical":
        choices = s.args.get("choices")
        if choices is None:
            raise ValueError(f"suggest_categorical({s.name!r}) has no choices "
                             f"(line {s.node.lineno})")
        if isinstance(choices, (ast.List, ast.Tuple)) and choices.elts:
            return render(choices.elts[0])
        return f"list({render(choices)})[0]"
    low = s.args.get("low")
    if low is None:
        raise ValueError(f"{s.kind} hyperparameter {s.name!r} has no low bound "
                         f"(line {s.node.lineno})")
    try:
        value = ast.literal_eval(text.segment(low))
    except (ValueError, SyntaxError, TypeError):
        return render(low)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return literal(int(value) if s.kind == "int" else float(value))
    return render(low)


def _describe(s: _Suggest, render: Any) -> str:
    """A short note of what was searched, e.g. ``n_estimators in [10, 50], log``."""
    def seg(key: str) -> str:
        return " ".join(render(s.args[key]).split()) if key in s.args else "?"

    if s.kind == "categorical":
        choices = seg("choices")
        return f"{s.name} in {choices if len(choices) <= 48 else choices[:45] + '...'}"
    note = f"{s.name} in [{seg('low')}, {seg('high')}]"
    log = s.args.get("log")
    if isinstance(log, ast.Constant) and log.value is True:
        note += ", log"
    return note


def _signature_items(fn: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda,
                     text: _Text) -> list[tuple[str, int, int]]:
    """(parameter name, start, end) for each parameter, its default included."""
    a = fn.args
    positional = a.posonlyargs + a.args
    # Defaults belong to the last positional parameters.
    defaults: dict[int, ast.expr] = dict(enumerate(a.defaults,
                                                   start=len(positional) - len(a.defaults)))
    items: list[tuple[str, int, int]] = []
    for i, arg in enumerate(positional):
        start, end = text.span(arg)
        if i in defaults:
            end = max(end, text.span(defaults[i])[1])
        items.append((arg.arg, start, end))
    for arg, stars in ((a.vararg, "*"), (a.kwarg, "**")):
        if arg is not None:
            start, end = text.span(arg)
            star = text.source.rfind(stars, 0, start)
            items.append((stars + arg.arg, star if star >= 0 else start, end))
    for arg, default in zip(a.kwonlyargs, a.kw_defaults, strict=True):
        start, end = text.span(arg)
        if default is not None:
            end = max(end, text.span(default)[1])
        items.append((arg.arg, start, end))
    items.sort(key=lambda item: item[1])
    return items


def _remove_item(items: list[tuple[int, int]], index: int, text: _Text) -> Edit:
    """The edit that deletes one item of a comma-separated list, with its comma."""
    start, end = items[index]
    if index + 1 < len(items):
        return start, items[index + 1][0], ""
    if index > 0:
        return items[index - 1][1], end, ""
    match = re.match(r"\s*,[ \t]*", text.source[end:])  # a lone item with a trailing comma
    return start, end + (match.end() if match else 0), ""


def bind(source: str, params: Mapping[str, Any], *, function: str,
         annotate: bool = True, strict: bool = True) -> str:
    """See ``program.bind_hyperparameters`` (the public entry point and its contract)."""
    text = _Text(source)
    try:
        tree = parse_source(text.source)
    except SyntaxError as exc:
        raise ValueError(f"the source does not parse (line {exc.lineno}: {exc.msg})") from None
    builders = [n for n in tree.body if isinstance(n, _FUNCTIONS) and n.name == function]
    if not builders:
        raise ValueError(f"the source defines no top-level function {function!r}")
    builder = builders[-1]
    first = (builder.args.posonlyargs + builder.args.args)[:1]
    if not first:
        raise ValueError(f"{function}() takes no parameters, so there is no trial to remove")
    trial = first[0].arg
    parents = _parents(tree)
    defs = {fn.name: fn for fn in ast.walk(tree) if isinstance(fn, _FUNCTIONS)}
    receives = _trial_params(defs, builder.name, trial)

    found: dict[int, ast.Call] = {}
    for name, param in receives.items():
        for node in ast.walk(defs[name]):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in _SUGGEST and isinstance(node.func.value, ast.Name) \
                    and node.func.value.id == param:
                found[id(node)] = node
    suggests = [_parse_suggest(node, node.func.attr, text) for node in found.values()]
    unknown = sorted(set(params) - {s.name for s in suggests})
    if unknown and strict:
        raise ValueError(f"{function}: hyperparameters {', '.join(map(repr, unknown))} are given "
                         f"but the source never suggests them (names must be without the "
                         f"'slot.candidate.' prefix)")

    def outermost(start: int, end: int) -> list[_Suggest]:
        inside = [s for s in suggests if start <= s.start and s.end <= end]
        return [s for s in inside
                if not any(o is not s and o.start <= s.start and s.end <= o.end for o in inside)]

    def render(node: ast.AST) -> str:
        """Source of ``node`` with the suggest calls inside it bound."""
        start, end = text.span(node)
        edits = [(s.start - start, s.end - start, replacement(s)) for s in outermost(start, end)]
        return _apply(text.source[start:end], edits)

    def replacement(s: _Suggest) -> str:
        value = literal(params[s.name]) if s.name in params else _default(s, render, text)
        return _wrap(value, s.node, parents.get(s.node))

    top = outermost(0, len(text.source))
    edits: list[Edit] = [(s.start, s.end, replacement(s)) for s in top]
    edits += _trial_removals(tree, defs, receives, text)
    if annotate:
        edits += [note for note in _annotations(top, params, text, render)
                  if not any(start < note[1] and note[0] < end for start, end, _ in edits)]
    result = _apply(text.source, edits)

    try:
        new_tree = parse_source(result)
    except SyntaxError as exc:  # a layout the span edits do not handle
        raise ValueError(f"{function}: binding the hyperparameters broke the source "
                         f"(line {exc.lineno}: {exc.msg}); simplify how trial is passed") from None
    lines = result.split("\n")
    scopes: list[tuple[ast.AST, str]] = [(new_tree, trial)]
    scopes += [(fn, receives[fn.name]) for fn in ast.walk(new_tree)
               if isinstance(fn, _FUNCTIONS) and fn.name in receives]
    for scope, param in scopes:
        for node in ast.walk(scope):
            if isinstance(node, ast.Name) and node.id == param:
                raise ValueError(
                    f"{function}: {param!r}{'' if param == trial else ' (the trial)'} is "
                    f"still used after binding the "
                    f"hyperparameters, on line {node.lineno}: "
                    f"{lines[node.lineno - 1].strip()!r}; only {param}.suggest_*() calls "
                    f"with a literal name, and passing the trial to a helper function "
                    f"defined in the same source, can be written out")
    return result


def _annotations(top: list[_Suggest], params: Mapping[str, Any], text: _Text,
                 render: Any) -> list[Edit]:
    """End-of-line comments noting each bound value's search space, where a line has room:
    no comment already, not inside a multi-line string, no backslash continuation."""
    busy: set[int] = set()  # lines whose end is inside a token, or that have a comment
    for tok in tokenize.generate_tokens(io.StringIO(text.source).readline):
        if tok.type == tokenize.COMMENT:
            busy.add(tok.start[0])
        elif tok.type not in (tokenize.NL, tokenize.NEWLINE) and tok.end[0] > tok.start[0]:
            busy.update(range(tok.start[0], tok.end[0]))
    notes: dict[int, list[str]] = {}
    for s in top:
        line = s.node.end_lineno
        # A line's end inside another bound call moves the note to where that call ends.
        for other in sorted(top, key=lambda o: o.start):
            if other.start < text.line_end(line) < other.end:
                line = other.node.end_lineno
        note = _describe(s, render) + ("" if s.name in params else " (unused by the best trial)")
        notes.setdefault(line, []).append(note)
    edits: list[Edit] = []
    for line, items in notes.items():
        if line in busy or text.lines[line - 1].rstrip().endswith("\\"):
            continue
        end = text.line_end(line)
        trimmed = len(text.lines[line - 1]) - len(text.lines[line - 1].rstrip())
        edits.append((end - trimmed, end, "  # searched: " + "; ".join(items)))
    return edits


def _param_names(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    return [a.arg for a in ast.walk(fn.args) if isinstance(a, ast.arg)]


def _trial_params(defs: dict[str, ast.FunctionDef | ast.AsyncFunctionDef], builder: str,
                  trial: str) -> dict[str, str]:
    """Function name -> its parameter that receives the trial: the builder's first, any
    parameter named like it, and (transitively) a helper's parameter the trial is passed
    to by a function that has it, positionally or by keyword."""
    receives = {name: trial for name, fn in defs.items() if trial in _param_names(fn)}
    receives[builder] = trial
    changed = True
    while changed:
        changed = False
        for name, own in list(receives.items()):
            for call in ast.walk(defs[name]):
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                        and call.func.id in defs and call.func.id not in receives):
                    continue
                callee = defs[call.func.id]
                positional = [a.arg for a in callee.args.posonlyargs + callee.args.args]
                passed = [positional[i] for i, a in enumerate(call.args)
                          if i < len(positional) and isinstance(a, ast.Name) and a.id == own
                          and not any(isinstance(b, ast.Starred) for b in call.args[:i])]
                passed += [k.arg for k in call.keywords if k.arg in _param_names(callee)
                           and isinstance(k.value, ast.Name) and k.value.id == own]
                if passed:
                    receives[call.func.id] = passed[0]
                    changed = True
    return receives


def _trial_removals(tree: ast.Module, defs: dict[str, Any], receives: dict[str, str],
                    text: _Text) -> list[Edit]:
    """Remove the trial parameter from the functions that receive it, and the trial
    argument from the calls to those functions."""
    edits: list[Edit] = []
    for name, param in receives.items():
        items = _signature_items(defs[name], text)
        names = [n for n, _, _ in items]
        edits.append(_remove_item([(s, e) for _, s, e in items], names.index(param), text))
    aliases = set(receives.values())
    for call in ast.walk(tree):
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                and call.func.id in receives):
            continue
        fn, param = defs[call.func.id], receives[call.func.id]
        positional = [a.arg for a in fn.args.posonlyargs + fn.args.args]
        index = positional.index(param) if param in positional else None
        target: ast.AST | None = None
        if index is not None and index < len(call.args) and not any(
                isinstance(a, ast.Starred) for a in call.args[:index + 1]):
            target = call.args[index]
        else:
            target = next((k for k in call.keywords if k.arg == param), None)
        value = target.value if isinstance(target, ast.keyword) else target
        if not (isinstance(value, ast.Name) and value.id in aliases):
            continue
        nodes = sorted([*call.args, *call.keywords], key=lambda n: (n.lineno, n.col_offset))
        edits.append(_remove_item([text.span(n) for n in nodes], nodes.index(target), text))
    return edits


# --------------------------------------------------------------------------- imports


class ImportEntry(NamedTuple):
    """One imported name: ``import name [as asname]`` (module None) or
    ``from module import name [as asname]``."""

    module: str | None
    name: str
    asname: str | None = None

    @property
    def bound(self) -> str:
        """The name the import binds."""
        if self.asname:
            return self.asname
        return self.name.split(".")[0] if self.module is None else self.name

    @property
    def origin(self) -> str:
        """What the bound name refers to; equal origins are the same object."""
        if self.module is None:
            return self.name if self.asname else self.name.split(".")[0]
        return f"{self.module}.{self.name}"

    def render(self) -> str:
        alias = f" as {self.asname}" if self.asname and self.asname != self.name else ""
        if self.module is None:
            return f"import {self.name}{alias}"
        return f"from {self.module} import {self.name}{alias}"


def import_entries(node: ast.Import | ast.ImportFrom) -> list[ImportEntry]:
    """One entry per name an import statement binds."""
    if isinstance(node, ast.Import):
        return [ImportEntry(None, a.name, a.asname) for a in node.names]
    module = "." * node.level + (node.module or "")
    return [ImportEntry(module, a.name, a.asname) for a in node.names]


def hoist_imports(source: str) -> tuple[str, list[ImportEntry]]:
    """Remove module-level import statements that stand on lines of their own; returns the
    rest of the source and the imports, in order. Imports nested in code stay in place."""
    text = _Text(source)
    tree = parse_source(text.source)
    entries: list[ImportEntry] = []
    edits: list[Edit] = []
    for node in tree.body:
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        before = text.lines[node.lineno - 1][:node.col_offset]
        after = text.source[text.span(node)[1]:text.line_end(node.end_lineno)].strip()
        if before.strip() or (after and not after.startswith("#")):
            continue  # shares a line with other code: leave it where it is
        start = text.offset(node.lineno, 0)
        end = min(text.line_end(node.end_lineno) + 1, len(text.source))
        edits.append((start, end, ""))
        entries += import_entries(node)
    return tidy_blank_lines(_apply(text.source, edits)), entries


def _name_order(item: str) -> tuple[int, str, str]:
    """isort's default order within one ``from`` import: CONSTANTS, Classes, functions."""
    name = item.split(" as ")[0]
    kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return (-1 if name == "*" else kind, name.lower(), name)


def render_imports(entries: Iterable[ImportEntry], *, stdlib: frozenset[str],
                   width: int = 88) -> str:
    """Imports de-duplicated and grouped like isort: standard library, then third party;
    ``import x`` lines before ``from x import ...`` lines, each group sorted."""
    unique = list(dict.fromkeys(entries))
    groups: list[list[str]] = [[], []]
    for third_party in (False, True):
        chosen = [e for e in unique
                  if ((e.module or e.name).split(".")[0].lstrip(".") not in stdlib)
                  == third_party]
        lines = sorted(e.render() for e in chosen if e.module is None)
        by_module: dict[str, list[str]] = {}
        for e in chosen:
            if e.module is not None:
                by_module.setdefault(e.module, []).append(
                    e.name + (f" as {e.asname}" if e.asname and e.asname != e.name else ""))
        for module in sorted(by_module):
            names = sorted(set(by_module[module]), key=_name_order)
            line = f"from {module} import {', '.join(names)}"
            if len(line) > width:
                line = f"from {module} import (\n" + "".join(f"    {n},\n" for n in names) + ")"
            lines.append(line)
        groups[third_party] = lines
    return "\n\n".join("\n".join(g) for g in groups if g)


# --------------------------------------------------------------------------- names


def module_bindings(source: str) -> tuple[list[tuple[str, str]], set[str], set[str]]:
    """(module-level bindings as (name, kind), every name bound anywhere, every name read
    anywhere). ``kind`` is "def" for functions and classes, "import:<origin>" for imports
    left in place, "assign" otherwise."""
    tree = parse_source(source)
    top: list[tuple[str, str]] = []

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
                top.append((node.name, "def"))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                top.extend((e.bound, f"import:{e.origin}") for e in import_entries(node)
                           if e.name != "*")
            else:  # the statement's own expressions, then its nested blocks
                for field, value in ast.iter_fields(node):
                    if field in ("body", "orelse", "finalbody", "handlers", "cases"):
                        continue
                    for item in value if isinstance(value, list) else [value]:
                        if isinstance(item, ast.AST):
                            top.extend((sub.id, "assign") for sub in ast.walk(item)
                                       if isinstance(sub, ast.Name)
                                       and isinstance(sub.ctx, ast.Store))
                for field in ("body", "orelse", "finalbody"):
                    visit(getattr(node, field, []))
                for block in getattr(node, "handlers", []) + getattr(node, "cases", []):
                    visit(block.body)

    visit(tree.body)
    bound: set[str] = set()
    read: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update(e.bound for e in import_entries(node))
    return list(dict.fromkeys(top)), bound, read


def rename_globals(source: str, mapping: Mapping[str, str]) -> str:
    """Rename module-level names (their definitions and every use), text-level.

    Functions whose parameters shadow a renamed name keep it inside their body.
    """
    if not mapping:
        return source
    text = _Text(source)
    tree = parse_source(text.source)
    edits: list[Edit] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Name) and node.id in mapping:
            start, end = text.span(node)
            edits.append((start, end, mapping[node.id]))
        elif isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
            if node.name in mapping:
                keyword = "class" if isinstance(node, ast.ClassDef) else "def"
                start = text.offset(node.lineno, node.col_offset)
                match = re.compile(rf"{keyword}\s+({re.escape(node.name)})\b").search(
                    text.source, start)
                if match:
                    edits.append((match.start(1), match.end(1), mapping[node.name]))
        if isinstance(node, (*_FUNCTIONS, ast.Lambda)):
            params = {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
            if params & set(mapping):  # shadowed inside: rename only what the def evaluates
                for sub in [*getattr(node, "decorator_list", []), *node.args.defaults,
                            *[d for d in node.args.kw_defaults if d is not None]]:
                    visit(sub)
                return
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            start, end = text.span(node)
            segment = re.sub(r"\b\w+\b", lambda m: mapping.get(m.group(), m.group()),
                             text.source[start:end])
            edits.append((start, end, segment))
            return
        elif isinstance(node, ast.alias) and (node.asname or node.name) in mapping:
            start, end = text.span(node)
            edits.append((start, end, f"{node.name} as {mapping[node.asname or node.name]}"))
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return _apply(text.source, edits)
