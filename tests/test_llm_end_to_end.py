"""The LLM provider end to end: ``run()``, the command line and the ``%%text2ml`` magic
against the scripted OpenAI-compatible server (real HTTP, the real ``openai`` client).

The scripted model answers like real ones do: a spec answer that is not JSON at first,
candidates wrapped in prose with several ``python`` blocks, a model whose fit raises and
is repaired, one that never passes. Checked: the fitted pipeline, the candidates and their
reasons, one study choosing among LLM and catalog candidates, what the server was sent
(upstream code, contract, the precise error, the key as Bearer token, no example values
without examples), usage equal to the server's token counts, the cache, retries, a slow
and an unreachable endpoint, missing configuration, and that the key is written nowhere.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from _llm_server import Reply, ScriptedLLMServer

import text2ml_jupyter
from text2ml_jupyter import cli
from text2ml_jupyter.candidates import FAILED, PASSED
from text2ml_jupyter.errors import Text2MLError
from text2ml_jupyter.providers import get_provider
from text2ml_jupyter.providers.offline import OfflineProvider
from text2ml_jupyter.slots import MODEL, SLOTS

SECRET = "sk-test-SECRET-0123456789abcdef"
# Every 8-character piece, but not the all-digit ones: those occur in plain numbers
# (an intermediate score of 46/81 = 0.5679012345679012 holds "01234567").
PIECES = {piece for piece in (SECRET[i:i + 8] for i in range(len(SECRET) - 7))
          if not piece.isdigit()}
TASK = "Predict whether a passenger survived. Optimize F1."
NAME = "Passenger Quokkafield-"  # a distinctive value in every row of passenger_name
SPEC_SYSTEM = "decide what to predict"  # in the system prompt of the spec question only

# ------------------------------------------------------------------ scripted answers

MALFORMED_SPEC = ('Let me think. The column to predict is survived, so:\n'
                  '{"target": "survived", "task_type": "binary", "metric": ')
VALID_SPEC = ('```json\n{"target": "survived", "task_type": "binary", "metric": "f1",'
              ' "pos_label": 1, "reasoning": "survived is a 0/1 outcome"}\n```')

PREPROCESS_ANSWER = '''Here is a preprocessing module for this table.

```python
# name: llm_impute_onehot
# description: impute and scale numbers, one-hot encode categories as strings
# defaults: {"strategy": "median"}
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler


def as_strings(frame):
    # one type per column; missing values become their own category
    return pd.DataFrame(frame).astype(object).fillna("missing").astype(str)


def build_preprocess(trial, columns):
    strategy = trial.suggest_categorical("strategy", ["median", "mean"])
    parts = []
    if columns["numeric"]:
        numeric = make_pipeline(SimpleImputer(strategy=strategy, keep_empty_features=True),
                                StandardScaler())
        parts.append(("numeric", numeric, columns["numeric"]))
    if columns["categorical"]:
        categorical = make_pipeline(FunctionTransformer(as_strings),
                                    OneHotEncoder(handle_unknown="ignore", sparse_output=False))
        parts.append(("categorical", categorical, columns["categorical"]))
    return ColumnTransformer(parts, sparse_threshold=0)
```

It keeps the output dense, which every model accepts.'''

FEATURES_ANSWER = '''One features module:

```python
# name: llm_variance
# description: drop near-constant columns
from sklearn.feature_selection import VarianceThreshold


def build_features(trial):
    return VarianceThreshold(threshold=trial.suggest_float("threshold", 0.0, 0.01))
```'''

MODEL_ANSWER = '''Three models that differ in approach.

First, a regularized linear model:

```python
# name: llm_logistic
# description: L2 logistic regression
from sklearn.linear_model import LogisticRegression


def build_model(trial):
    return LogisticRegression(C=trial.suggest_float("C", 0.01, 10.0, log=True),
                              max_iter=1000, random_state=0)
```

Second, a logistic regression with a custom fit:

```python
# name: llm_broken_fit
# description: logistic regression with a custom fit
from sklearn.linear_model import LogisticRegression


class CustomLogistic(LogisticRegression):
    def fit(self, X, y, sample_weight=None):
        raise ValueError("BROKEN-FIT-MARKER the solver diverged on purpose")


def build_model(trial):
    return CustomLogistic(C=trial.suggest_float("C", 0.1, 10.0, log=True), max_iter=1000)
```

Third, another linear model:

```python
# name: llm_typo
# description: logistic regression (misspelled import)
from sklearn.linear_model import LogisticRegresion


def build_model(trial):
    return LogisticRegresion(C=trial.suggest_float("C", 0.1, 10.0, log=True))
```

Use them like this (not a module):

```python
pipeline.fit(X, y)
```

All three are fast on this data.'''

FIXED_BROKEN_FIT = '''The custom fit raised; here is the corrected module.

```python
# name: llm_broken_fit
# description: balanced logistic regression with the standard fit
from sklearn.linear_model import LogisticRegression


def build_model(trial):
    return LogisticRegression(C=trial.suggest_float("C", 0.1, 10.0, log=True),
                              class_weight="balanced", max_iter=1000, random_state=0)
```'''

STILL_TYPO = '''I fixed the import:

```python
# name: llm_typo
# description: logistic regression
from sklearn.linear_model import LogisticRegresion  # fixed


def build_model(trial):
    return LogisticRegresion(C=trial.suggest_float("C", 0.1, 10.0, log=True))
```'''

POSTPROCESS_ANSWER = '''```python
# name: llm_as_is
# description: the pipeline unchanged
def build_postprocess(trial, pipeline):
    # F1 is scored on the labels the model predicts; no wrapper needed
    return pipeline
```'''

# Distinct token counts per answer: usage must add up to exactly what the server sent.
TOKENS = {"spec_bad": (311, 17), "spec_ok": (313, 29), "preprocess": (1201, 307),
          "features": (1303, 61), "model": (1409, 523), "fix_broken": (1511, 97),
          "fix_typo": (1613, 59), "postprocess": (1717, 43)}


def _reply(content: str, key: str, **options: Any) -> Reply:
    prompt, completion = TOKENS[key]
    return Reply(content, prompt_tokens=prompt, completion_tokens=completion, **options)


def script_realistic(server: ScriptedLLMServer) -> None:
    """The answers of scenario 1 (rules are checked in the order they are added)."""
    server.script(_reply(MALFORMED_SPEC, "spec_bad"), _reply(VALID_SPEC, "spec_ok"),
                  system=SPEC_SYSTEM)
    server.script(_reply(FIXED_BROKEN_FIT, "fix_broken"),
                  match="## The failing module: llm_broken_fit")
    server.script(_reply(STILL_TYPO, "fix_typo"), match="## The failing module: llm_typo")
    server.script(_reply(PREPROCESS_ANSWER, "preprocess"), match="## Your slot: preprocess")
    server.script(_reply(FEATURES_ANSWER, "features"), match="## Your slot: features")
    server.script(_reply(MODEL_ANSWER, "model"), match="## Your slot: model")
    server.script(_reply(POSTPROCESS_ANSWER, "postprocess"), match="## Your slot: postprocess")


def served_tokens(server: ScriptedLLMServer) -> tuple[int, int, int]:
    """(answers served, prompt tokens, completion tokens) over every scripted rule."""
    served = prompt = completion = 0
    for rule in server._rules:  # noqa: SLF001 - the fixture keeps what it served there
        for i in range(rule.served):
            reply = rule.replies[min(i, len(rule.replies) - 1)]
            served += 1
            if reply.status < 400:
                prompt += reply.prompt_tokens
                completion += reply.completion_tokens
    return served, prompt, completion


# ------------------------------------------------------------------ helpers

def titanic_with_names(frame: pd.DataFrame) -> pd.DataFrame:
    """Titanic with a distinctive identifier column (a name per passenger)."""
    frame = frame.copy()
    frame.insert(1, "passenger_name", [f"{NAME}{i:04d}" for i in range(len(frame))])
    return frame


def options(server_url: str, **extra: Any) -> dict[str, Any]:
    return {"base_url": server_url, "model": "gpt-4o-mini", "timeout": 10.0,
            "max_retries": 0, **extra}


def generation_requests(requests: list[Any], slot: str) -> list[Any]:
    """The requests asking for ``slot``'s modules (not the repairs)."""
    return [r for r in requests if f"## Your slot: {slot}" in r.last_user()
            and "## The failing module:" not in r.last_user()]


def by_key(result: Any) -> dict[str, Any]:
    return {c.key: c for c in result.candidates}


def assert_no_secret(*, folders: list[Path] = (), texts: list[str] = ()) -> int:
    """Neither the key nor any 8-character piece of it in any file or text; returns the
    number of files checked (so a caller can see the check was not vacuous)."""
    pieces = [SECRET.encode(), *(p.encode() for p in PIECES)]
    checked = 0
    for folder in folders:
        for path in Path(folder).rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                checked += 1
                leaked = [p for p in pieces if p in data]
                assert not leaked, f"{path} contains {leaked[0]!r}"
    for text in texts:
        leaked = [p for p in pieces if p.decode() in text]
        assert not leaked, f"a text contains {leaked[0]!r}: {text[:300]!r}"
    return checked


def closed_port_url() -> str:
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def secret_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    return SECRET


# ------------------------------------------------------------------ scenario 1 and 2: one
# realistic run, then the same run answered from the cache, then without the cache.

@pytest.fixture(scope="module")
def realistic(tmp_path_factory: pytest.TempPathFactory, titanic_csv: Path) -> Any:
    folder = tmp_path_factory.mktemp("realistic")
    server = ScriptedLLMServer().start()
    script_realistic(server)
    data = titanic_with_names(pd.read_csv(titanic_csv))
    cache = folder / "llm-cache"
    out = SimpleNamespace(server=server, folder=folder, data=data, cache=cache)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("OPENAI_API_KEY", SECRET)
            mp.delenv("OPENAI_BASE_URL", raising=False)
            events: list[Any] = []
            out.first = text2ml_jupyter.run(
                TASK, data, time_budget=20, candidates=3, provider="openai",
                provider_options=options(server.base_url, cache_dir=str(cache)),
                run_dir=folder / "runs", on_event=events.append)
            out.events = events
            out.first_requests = list(server.chat_requests)
            out.first_served = served_tokens(server)
            out.second = text2ml_jupyter.run(
                TASK, data, time_budget=10, candidates=3, provider="openai",
                provider_options=options(server.base_url, cache_dir=str(cache)),
                run_dir=folder / "runs")
            out.second_requests = server.chat_requests[len(out.first_requests):]
            # no cache: asked again (the spec rule now repeats its last, valid, answer)
            out.third = text2ml_jupyter.run(
                TASK, data, time_budget=10, candidates=3, provider="openai",
                provider_options=options(server.base_url, cache_dir=None),
                run_dir=folder / "runs")
            out.third_requests = server.chat_requests[
                len(out.first_requests) + len(out.second_requests):]
        yield out
    finally:
        server.stop()


@pytest.mark.slow
def test_realistic_run_returns_a_fitted_pipeline(realistic) -> None:
    result = realistic.first
    assert result.spec.target == "survived" and result.metric == "f1"
    assert result.spec.columns["passenger_name"] == "identifier"
    pipeline = result.pipeline
    if pipeline is None:  # the winner holds LLM-written code: loaded only when asked
        chosen = [result.chosen] + [{s.name: m["params"][s.name] for s in SLOTS}
                                    for m in result.members]  # an ensemble: any member's
        assert any(by_key(result)[f"{slot}.{name}"].origin == "openai"
                   for combination in chosen for slot, name in combination.items())
        assert any("run the inserted cells" in note for note in result.notes)
        pipeline = result.load_pipeline()
    new_rows = realistic.data.drop(columns=["survived"]).head(25)
    predictions = pipeline.predict(new_rows)
    assert predictions.shape == (25,) and set(predictions) <= {0, 1}
    assert pipeline.predict_proba(new_rows).shape == (25, 2)
    assert 0.5 < result.best_score <= 1.0
    assert result.n_trials >= 3
    assert result.elapsed < 20 + 10


@pytest.mark.slow
def test_malformed_spec_answer_is_asked_again(realistic) -> None:
    spec_requests = [r for r in realistic.first_requests if SPEC_SYSTEM in r.system()]
    assert len(spec_requests) == 2
    first, second = spec_requests
    assert TASK in first.last_user()
    assert [m["role"] for m in second.messages] == ["system", "user", "assistant", "user"]
    assert second.messages[2]["content"] == MALFORMED_SPEC
    assert "JSON object only" in second.last_user()
    # the valid second answer was used, and it agrees with the data: no disagreement note
    assert not [n for n in realistic.first.spec.notes if "The LLM" in n]


@pytest.mark.slow
def test_llm_candidates_are_tested_repaired_and_reported(realistic) -> None:
    cands = by_key(realistic.first)
    for key in ("preprocess.llm_impute_onehot", "features.llm_variance",
                "model.llm_logistic", "model.llm_broken_fit_fix1",
                "postprocess.llm_as_is"):
        assert key in cands, sorted(cands)
        assert cands[key].origin == "openai"
        assert cands[key].status == PASSED, (key, cands[key].reason)
    broken = cands["model.llm_broken_fit"]
    assert broken.status == FAILED and "BROKEN-FIT-MARKER" in broken.reason
    assert "ValueError" in broken.reason
    fixed = cands["model.llm_broken_fit_fix1"]
    assert 'class_weight="balanced"' in fixed.source and "CustomLogistic" not in fixed.source
    # never passes: the original and its one repair are both reported, with the reason
    for key in ("model.llm_typo", "model.llm_typo_fix1"):
        assert cands[key].status == FAILED and cands[key].origin == "openai"
        assert "LogisticRegresion" in cands[key].reason, cands[key].reason
    assert "model.llm_typo_fix2" not in cands  # the same code again is not a repair
    # the usage example block defines no builder and is no candidate
    assert not [c for c in cands.values() if "pipeline.fit(X, y)" in c.source]
    # the catalog's candidates are there too, and passed
    for slot in ("preprocess", "features", "model", "postprocess"):
        offline = [c for c in cands.values() if c.slot == slot and c.origin == "offline"]
        assert offline and any(c.status == PASSED for c in offline), slot
    # the run folder's candidates.json holds the failures as well
    saved = json.loads((realistic.first.run_dir / "candidates.json").read_text())
    saved = {f"{c['slot']}.{c['name']}": c for c in saved}
    assert saved["model.llm_typo_fix1"]["status"] == FAILED


@pytest.mark.slow
def test_llm_and_catalog_candidates_compete_in_one_study(realistic) -> None:
    result = realistic.first
    cands = by_key(result)
    trials = [t for t in result.study.trials if t.state.is_finished()]
    assert trials
    choices = set(trials[0].distributions["model"].choices)
    assert {"llm_logistic", "llm_broken_fit_fix1"} <= choices
    assert {c.name for c in cands.values() if c.slot == "model" and c.origin == "offline"
            and c.status == PASSED} <= choices
    assert not {"llm_broken_fit", "llm_typo", "llm_typo_fix1"} & choices  # failed: not offered
    assert "llm_impute_onehot" in trials[0].distributions["preprocess"].choices
    chosen = {(slot, t.params[slot]) for t in trials for slot in
              ("preprocess", "features", "model", "postprocess")}
    origins = {cands[f"{slot}.{name}"].origin for slot, name in chosen}
    assert origins == {"openai", "offline"}, chosen


@pytest.mark.slow
def test_generation_requests_carry_upstream_code_contract_and_error(realistic) -> None:
    result = realistic.first
    (request,) = generation_requests(realistic.first_requests, "model")
    prompt = request.last_user()
    accepted_pre = next(c for c in result.candidates
                        if c.slot == "preprocess" and c.status == PASSED)
    assert accepted_pre.source.strip() in prompt  # the upstream module, in full
    assert f"## Accepted preprocess module: {accepted_pre.name}" in prompt
    assert "llm_impute_onehot" in prompt  # the other accepted ones are named
    assert MODEL.contract in prompt and "def build_model(trial)" in prompt
    assert "Write 3 diverse model modules" in prompt
    # the repair request carries the precise error of the failed test and the code
    broken = by_key(result)["model.llm_broken_fit"]
    (repair,) = [r for r in realistic.first_requests
                 if "## The failing module: llm_broken_fit\n" in r.last_user()]
    assert broken.reason.strip() in repair.last_user()
    assert "BROKEN-FIT-MARKER the solver diverged on purpose" in repair.last_user()
    assert "class CustomLogistic(LogisticRegression)" in repair.last_user()
    assert MODEL.contract in repair.last_user()
    # the key really went to the server, as the Bearer token, on every request
    assert {r.headers.get("authorization") for r in realistic.first_requests} == \
        {f"Bearer {SECRET}"}


@pytest.mark.slow
def test_usage_counts_what_the_server_answered(realistic) -> None:
    result = realistic.first
    served, prompt, completion = realistic.first_served
    assert served == len(realistic.first_requests)  # every request had a scripted answer
    usage = result.usage
    assert usage.calls == served and usage.cached == 0
    assert (usage.prompt_tokens, usage.completion_tokens) == (prompt, completion)
    # the spec asked twice, one question per slot, one repair of llm_broken_fit, two of
    # llm_typo (its fix1 failed too): exactly these answers
    expected = {"spec_bad": 1, "spec_ok": 1, "preprocess": 1, "features": 1, "model": 1,
                "fix_broken": 1, "fix_typo": 2, "postprocess": 1}
    assert prompt == sum(TOKENS[k][0] * n for k, n in expected.items())
    assert completion == sum(TOKENS[k][1] * n for k, n in expected.items())
    assert usage.cost_usd is not None and usage.cost_usd > 0  # gpt-4o-mini has a price
    saved = json.loads((result.run_dir / "usage.json").read_text())
    assert saved == dataclasses.asdict(usage)
    assert saved["calls"] == served and saved["prompt_tokens"] == prompt
    usage_events = [e for e in realistic.events if e.kind == "usage"]
    assert usage_events and usage_events[-1].data["usage"]["calls"] <= served


@pytest.mark.slow
def test_examples_are_few_per_column(realistic) -> None:
    names = set()
    for request in realistic.first_requests:
        text = json.dumps(request.body)
        names |= {f"{NAME}{i:04d}" for i in range(len(realistic.data))
                  if f"{NAME}{i:04d}" in text}
    assert 1 <= len(names) <= 3, sorted(names)  # examples on: a few, never the rows
    spec_prompt = next(r for r in realistic.first_requests if SPEC_SYSTEM in r.system())
    assert "Southampton" in spec_prompt.last_user()


@pytest.mark.slow
def test_second_run_is_answered_from_the_cache(realistic) -> None:
    first, second = realistic.first, realistic.second
    assert realistic.second_requests == []  # identical prompts: nothing sent
    assert second.usage.cached == second.usage.calls > 0
    assert second.usage.prompt_tokens == 0 and second.usage.completion_tokens == 0
    assert {c.key for c in second.candidates if c.origin == "openai"} == \
        {c.key for c in first.candidates if c.origin == "openai"}
    assert list(realistic.cache.glob("*.json"))
    # without the cache, the same run asks again
    third = realistic.third
    assert third.usage.cached == 0
    assert len(realistic.third_requests) == third.usage.calls >= 6
    for slot in ("preprocess", "features", "model", "postprocess"):
        assert len(generation_requests(realistic.third_requests, slot)) == 1, slot


@pytest.mark.slow
def test_the_key_is_in_no_file_or_result(realistic) -> None:
    texts = []
    for result in (realistic.first, realistic.second, realistic.third):
        texts += [repr(result), result.summary(), result.code, "\n".join(result.notes),
                  repr(result.usage)]
    assert assert_no_secret(folders=[realistic.folder], texts=texts) > 10


# ------------------------------------------------------------------ 3: rate limited

@pytest.mark.slow
def test_rate_limit_then_success(llm_server, secret_key, titanic_df, tmp_path) -> None:
    llm_server.script(Reply.error(429, "Rate limit reached for requests",
                                  code="rate_limit_exceeded", kind="requests",
                                  headers={"retry-after-ms": "50"}),
                      Reply(VALID_SPEC), system=SPEC_SYSTEM)
    llm_server.script(MODEL_ANSWER.split("Second,")[0], match="## Your slot: model")
    llm_server.script("No module for this slot.")  # the other slots, and the follow-ups
    result = text2ml_jupyter.run(
        TASK, titanic_df, time_budget=10, candidates=2, provider="openai",
        provider_options=options(llm_server.base_url, max_retries=2), run_dir=tmp_path)
    spec_requests = [r for r in llm_server.chat_requests if SPEC_SYSTEM in r.system()]
    assert len(spec_requests) == 2  # the 429 and its retry
    assert spec_requests[0].body == spec_requests[1].body
    assert by_key(result)["model.llm_logistic"].status == PASSED
    # no note about the LLM failing (one saying the winner, or an ensemble member, holds
    # LLM-written code is about the result, not the rate limit)
    assert not [n for n in result.notes if "LLM" in n and "code the LLM wrote" not in n
                and "(llm_" not in n], result.notes
    assert result.usage.calls == len(llm_server.chat_requests) - 1  # retries are one call
    # (a pipeline holding LLM-written code is loaded only when asked for)
    pipeline = result.pipeline or result.load_pipeline()
    assert pipeline.predict(titanic_df.drop(columns=["survived"]).head(3)).shape == (3,)


# ------------------------------------------------------------------ 4: too slow

@pytest.mark.slow
def test_slow_answers_past_the_timeout_leave_the_catalog(llm_server, secret_key,
                                                          titanic_df, tmp_path) -> None:
    llm_server.script(VALID_SPEC, system=SPEC_SYSTEM)
    llm_server.script(Reply(PREPROCESS_ANSWER, delay=6))
    started = time.monotonic()
    result = text2ml_jupyter.run(
        TASK, titanic_df, time_budget=10, candidates=2, provider="openai",
        provider_options=options(llm_server.base_url, timeout=1, max_retries=1),
        run_dir=tmp_path)
    elapsed = time.monotonic() - started
    assert elapsed < 10 + 6, elapsed
    assert result.pipeline is not None and result.n_trials >= 1
    assert {c.origin for c in result.candidates} == {"offline"}
    # Either the request timed out (1 s, one retry) or the run's own share of the budget
    # for one LLM answer ran out first; both leave the LLM out for the rest of the run.
    notes = [n for n in result.notes if "stopped answering" in n or "too slow" in n]
    assert len(notes) == 1, result.notes
    assert "offline catalog" in notes[0]
    generation = [r for r in llm_server.chat_requests if "## Your slot:" in r.last_user()]
    assert 1 <= len(generation) <= 2  # the preprocess question (and a retry), then no more
    assert result.usage.calls == 1  # the spec answer; the lost call brought nothing


@pytest.mark.slow
def test_slow_answers_within_the_request_timeout_leave_time_for_the_search(
        llm_server, secret_key, titanic_df, tmp_path) -> None:
    # An endpoint slower than the run's budget but within its own request timeout (a
    # local model loading, a busy endpoint): the search must still get its share.
    llm_server.script(VALID_SPEC, system=SPEC_SYSTEM)
    llm_server.script(Reply(PREPROCESS_ANSWER, delay=30))
    result = text2ml_jupyter.run(
        TASK, titanic_df, time_budget=12, candidates=1, provider="openai",
        provider_options=options(llm_server.base_url, timeout=60), run_dir=tmp_path)
    assert result.elapsed < 12 + 4
    assert {c.origin for c in result.candidates} == {"offline"}
    assert any("did not come back" in n or "stopped answering" in n for n in result.notes)
    assert result.n_trials >= 3, (result.n_trials, result.notes)


# ------------------------------------------------------------------ 5: unreachable

@pytest.mark.slow
def test_unreachable_endpoint_with_the_catalog(secret_key, titanic_df, tmp_path) -> None:
    url = closed_port_url()
    result = text2ml_jupyter.run(
        TASK, titanic_df, time_budget=8, candidates=2, provider="openai",
        provider_options={"base_url": url, "max_retries": 1}, run_dir=tmp_path)
    assert {c.origin for c in result.candidates} == {"offline"}
    (note,) = [n for n in result.notes if "stopped answering" in n]
    assert f"Cannot reach the LLM endpoint {url}" in note
    assert "offline catalog" in note
    assert result.usage.calls == 0
    assert result.pipeline.predict(titanic_df.drop(columns=["survived"]).head(3)).shape == (3,)
    assert_no_secret(folders=[tmp_path], texts=[repr(result), result.summary()])


def test_unreachable_endpoint_without_the_catalog(secret_key, titanic_df, tmp_path,
                                                  capfd, monkeypatch) -> None:
    import threading

    escaped: list[str] = []  # exceptions left to die in a thread: a traceback on stderr
    monkeypatch.setattr(threading, "excepthook", lambda args: escaped.append(
        f"{args.thread.name if args.thread else '?'}: {args.exc_type.__name__}: {args.exc_value}"))
    url = closed_port_url()
    started = time.monotonic()
    with pytest.raises(Text2MLError) as info:
        text2ml_jupyter.run(
            TASK, titanic_df, time_budget=8, candidates=2, provider="openai",
            provider_options={"base_url": url, "max_retries": 0, "catalog": False},
            run_dir=tmp_path)
    assert time.monotonic() - started < 8
    message = str(info.value)
    assert f"Cannot reach the LLM endpoint {url}" in message
    assert "OPENAI_BASE_URL" in message  # says what to check
    assert info.value.__cause__ is None and info.value.__context__ is None
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err, captured.err
    assert not escaped, escaped
    assert_no_secret(folders=[tmp_path], texts=[message, captured.out, captured.err])


# ------------------------------------------------------------------ 6: not configured

def test_openai_without_key_or_base_url_says_what_to_set(titanic_df, tmp_path) -> None:
    with pytest.raises(Text2MLError) as info:
        text2ml_jupyter.run(TASK, titanic_df, time_budget=8, provider="openai",
                            run_dir=tmp_path)
    message = str(info.value)
    assert "OPENAI_API_KEY" in message and "OPENAI_BASE_URL" in message
    assert not list(tmp_path.iterdir())  # nothing started, nothing written


@pytest.mark.slow
def test_auto_without_key_or_base_url_is_offline(titanic_df, tmp_path) -> None:
    assert isinstance(get_provider("auto"), OfflineProvider)
    result = text2ml_jupyter.run(TASK, titanic_df, time_budget=8, candidates=1,
                                 provider="auto", run_dir=tmp_path)
    assert result.usage is None
    assert {c.origin for c in result.candidates} == {"offline"}
    assert not (result.run_dir / "usage.json").exists()


# ------------------------------------------------------------------ 7 and 10: command line

@pytest.mark.slow
def test_command_line_run_without_examples_or_cache(llm_server, secret_key, titanic_df, tmp_path,
                                           capfd) -> None:
    script_realistic(llm_server)
    csv = tmp_path / "titanic.csv"
    titanic_with_names(titanic_df).to_csv(csv, index=False)
    notebook, program, runs = tmp_path / "out" / "r.ipynb", tmp_path / "out" / "r.py", \
        tmp_path / "runs"
    code = cli.main(["run", TASK, "--data", str(csv), "--provider", "openai",
                     "--base-url", llm_server.base_url, "--model", "gpt-4o-mini",
                     "--budget", "15", "--candidates", "3", "--out", str(notebook),
                     "--out", str(program), "--run-dir", str(runs), "--no-examples",
                     "--no-cache"])
    captured = capfd.readouterr()
    assert code == 0, captured.err
    requests = llm_server.chat_requests
    served, prompt, completion = served_tokens(llm_server)
    assert served == len(requests) >= 7
    usage_line = [line for line in captured.out.splitlines() if line.startswith("LLM: ")][-1]
    assert usage_line.startswith(f"LLM: {served} calls, {prompt:,} prompt + "
                                 f"{completion:,} completion tokens"), usage_line
    assert notebook.is_file() and program.is_file()
    assert not (runs / "llm-cache").exists()  # --no-cache: nothing stored
    # privacy: no example value of the data in any request
    values = [NAME, "Southampton", "Cherbourg", "Queenstown", "512.3", "14.45", "'male'",
              "Third", "woman"]
    for request in requests:
        body = json.dumps(request.body, ensure_ascii=False)
        found = [v for v in values if v in body]
        assert not found, (found, request.last_user()[:500])
    assert "embark_town" in requests[0].last_user()  # the schema itself is sent
    assert {r.headers.get("authorization") for r in requests} == {f"Bearer {SECRET}"}
    assert_no_secret(folders=[tmp_path], texts=[captured.out, captured.err])


# ------------------------------------------------------------------ 8: the magic

@pytest.mark.slow
def test_magic_runs_with_the_llm(llm_server, secret_key, titanic_df, tmp_path, make_shell,
                                 capfd) -> None:
    script_realistic(llm_server)
    shell = make_shell()
    assert shell.run_cell("%load_ext text2ml_jupyter").success
    assert shell.run_cell(f"%config Text2ML.run_dir = {str(tmp_path / 'runs')!r}").success
    assert shell.run_cell(f"%config Text2ML.base_url = {llm_server.base_url!r}").success
    shell.user_ns["titanic"] = titanic_df
    capfd.readouterr()
    outcome = shell.run_cell("%%text2ml --provider openai --model gpt-4o-mini "
                             "--budget 15 --candidates 3\n" + TASK)
    captured = capfd.readouterr()
    assert outcome.success, (outcome.error_in_exec, captured.err[-2000:])
    result = outcome.result
    if result.pipeline is None:  # LLM-written code won: the kernel has no pipeline
        assert "pipeline" not in shell.user_ns  # until the user runs the cells
        assert "run the inserted cells" in captured.out
        assert shell.run_cell(result.code).success
    pipeline = shell.user_ns["pipeline"]
    assert pipeline.predict(titanic_df.drop(columns=["survived"]).head(4)).shape == (4,)
    served, prompt, completion = served_tokens(llm_server)
    assert result.usage.calls == served == len(llm_server.chat_requests)
    assert f"LLM: {served} calls, {prompt:,} prompt + {completion:,} completion tokens" \
        in captured.out, captured.out[-3000:]
    assert list((tmp_path / "runs" / "llm-cache").glob("*.json"))
    assert any(c.origin == "openai" and c.status == PASSED for c in result.candidates)
    assert_no_secret(folders=[tmp_path], texts=[captured.out, captured.err,
                                                repr(result), result.summary()])


# ------------------------------------------------------------------ 9: a candidate reading the key

LEAKY_MODEL = '''```python
# name: llm_env
# description: reads the environment of its worker
import pandas as pd


def build_model(trial):
    found = pd.io.common.os.environ.get("{variable}", "no key in the worker")
    raise ValueError(f"environment says {{found}}")
```'''


@pytest.mark.slow
@pytest.mark.parametrize("variable", ["OPENAI_API_KEY", "LLM_ACCESS"])
def test_a_candidate_cannot_leak_the_key_through_its_error(llm_server, titanic_df, tmp_path,
                                                           monkeypatch, variable) -> None:
    # LLM code runs in the workers; the static check cannot stop every way to reach
    # os.environ (here through pandas). The key, under any variable name, must not be
    # there, and what goes back to the LLM or into the cache is scrubbed anyway.
    monkeypatch.setenv(variable, SECRET)
    llm_server.script(VALID_SPEC, system=SPEC_SYSTEM)
    llm_server.script(LEAKY_MODEL.format(variable=variable), match="## Your slot: model")
    llm_server.script("No module for this slot.")
    result = text2ml_jupyter.run(
        TASK, titanic_df, time_budget=8, candidates=1, provider="openai",
        provider_options=options(llm_server.base_url, api_key_env=variable,
                                 cache_dir=str(tmp_path / "cache")),
        run_dir=tmp_path / "runs")
    assert {r.headers.get("authorization") for r in llm_server.chat_requests} == \
        {f"Bearer {SECRET}"}
    leaky = by_key(result)["model.llm_env"]
    assert leaky.status == FAILED and "environment says" in leaky.reason
    repairs = [r for r in llm_server.chat_requests if "## The failing module: llm_env" in
               r.last_user()]
    assert repairs  # the error went back to the model for repair
    # what leaves the machine and the LLM cache: scrubbed by the provider
    assert_no_secret(folders=[tmp_path / "cache"],
                     texts=[json.dumps(r.body) for r in llm_server.chat_requests])
    # the candidate's reason, the run folder (candidates.json), the result: workers must
    # not see the key in the first place
    assert_no_secret(folders=[tmp_path], texts=[leaky.reason, repr(result), result.summary()])
