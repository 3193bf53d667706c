"""The LLM provider against a scripted OpenAI-compatible server: real HTTP, real client.

Covers settings resolution, the data summary, answer parsing, generation in the context
of upstream candidates, repair, the spec proposal, retries, timeouts, error messages,
the disk cache, and that the API key never leaks.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import time
import traceback
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _llm_server import Reply, ScriptedLLMServer

from text2ml_jupyter.candidates import FAILED, PENDING, Candidate
from text2ml_jupyter.errors import Text2MLError
from text2ml_jupyter.providers import GenerationContext
from text2ml_jupyter.providers._parse import code_blocks, parse_candidates, parse_spec
from text2ml_jupyter.providers._usage import Usage, price_of
from text2ml_jupyter.providers.cache import ResponseCache
from text2ml_jupyter.providers.openai import (LLMSettings, LLMUnavailable, OpenAIProvider,
                                              scrub)
from text2ml_jupyter.providers.prompts import generate_messages, schema_summary
from text2ml_jupyter.slots import FEATURES, MODEL, PREPROCESS, allowed_imports
from text2ml_jupyter.spec import TaskSpec

SECRET = "sk-test-SECRET-1234567890"
_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL", "MY_KEY_VAR")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's own key or endpoint."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)


def _settings(server: ScriptedLLMServer, **options) -> LLMSettings:
    options = {"timeout": 5.0, "max_retries": 0, **options}
    return LLMSettings(api_key=SECRET, base_url=server.base_url, **options)


def _spec() -> TaskSpec:
    return TaskSpec(text="Predict whether a customer churns. Optimize F1.", target="churn",
                    task_type="binary", metric="f1", direction="maximize",
                    columns={"age": "numeric", "plan": "categorical", "id": "identifier",
                             "churn": "target"},
                    pos_label=1, classes=[0, 1], n_rows=500)


_UPSTREAM_PRE = '''\
# UPSTREAM-PREPROCESS-MARKER
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer


def build_preprocess(trial, columns):
    return ColumnTransformer([("numeric", SimpleImputer(), columns["numeric"])])
'''

_UPSTREAM_FEATURES = '''\
# UPSTREAM-FEATURES-MARKER
def build_features(trial):
    return "passthrough"
'''


def _context(k: int = 3, summary: str = "500 rows x 4 columns") -> GenerationContext:
    return GenerationContext(
        spec=_spec(), n_rows=500, n_features=2, seed=7, k=k, data_summary=summary,
        accepted={"preprocess": [Candidate("preprocess", "impute", _UPSTREAM_PRE)],
                  "features": [Candidate("features", "passthrough", _UPSTREAM_FEATURES),
                               Candidate("features", "pca", _UPSTREAM_FEATURES)]})


def _model_block(name: str, cls: str = "LogisticRegression", extra: str = "",
                 param: str = "C", module: str = "linear_model") -> str:
    return (f"```python\n# name: {name}\n# description: a {cls}\n{extra}"
            f"from sklearn.{module} import {cls}\n\n\n"
            f"def build_model(trial):\n"
            f"    return {cls}({param}=trial.suggest_float(\"{param}\", 0.01, 10.0, log=True))\n"
            "```\n")


THREE_MODELS = ("Here are three models.\n\n" + _model_block("logistic")
                + "A second one:\n" + _model_block("Logistic Regression v2!", "RidgeClassifier",
                                                   param="alpha")
                + _model_block("svm", "LinearSVC", '# defaults: {"C": 1.0, "nope": 3}\n',
                               module="svm")
                + "\nThey differ in their loss.")


# ------------------------------------------------------------------ settings

def test_resolve_without_key_or_base_url_says_what_to_set() -> None:
    with pytest.raises(Text2MLError) as info:
        LLMSettings.resolve()
    message = str(info.value)
    for needed in ("OPENAI_API_KEY", "export OPENAI_API_KEY=", "OPENAI_BASE_URL",
                   "export OPENAI_BASE_URL=http://localhost:11434/v1",
                   '%config Text2ML.api_key_env = "MY_KEY_VAR"', "%config Text2ML.base_url"):
        assert needed in message
    assert not LLMSettings.configured()


def test_resolve_reads_the_named_variable_and_hides_the_key(monkeypatch) -> None:
    with pytest.raises(Text2MLError, match=r"\$MY_KEY_VAR is not set"):
        LLMSettings.resolve(api_key_env="MY_KEY_VAR")
    monkeypatch.setenv("MY_KEY_VAR", SECRET)
    monkeypatch.setenv("OPENAI_MODEL", "gpt-4.1-mini")
    settings = LLMSettings.resolve(api_key_env="MY_KEY_VAR", timeout=None, temperature=0.5)
    assert settings.api_key == SECRET and settings.api_key_env == "MY_KEY_VAR"
    assert settings.model == "gpt-4.1-mini" and settings.temperature == 0.5
    assert settings.timeout == 60.0  # None keeps the default
    assert LLMSettings.configured("MY_KEY_VAR") and not LLMSettings.configured()
    for text in (repr(settings), str(settings), repr(OpenAIProvider(settings))):
        assert "SECRET" not in text and "1234567890" not in text


def test_a_local_server_needs_no_key(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://user:pw@localhost:11434/v1/")
    settings = LLMSettings.resolve(model="llama3.1")
    assert settings.api_key == "not-needed" and settings.model == "llama3.1"
    assert settings.endpoint == "http://localhost:11434/v1"  # no credentials shown
    assert LLMSettings.configured()
    with pytest.raises(Text2MLError, match="timeout"):
        LLMSettings.resolve(timeout=0)


# ------------------------------------------------------------------ data summary

def test_schema_summary_with_and_without_examples() -> None:
    frame = pd.DataFrame({
        "city": ["ZEBRATOWN-77", "ZEBRATOWN-77", "Oslo", None] * 5,
        "income": [123456.5, 2.0, 3.0, np.nan] * 5,
        "note": [f"free text number {i} QUOKKA" for i in range(20)],
    })
    shown = schema_summary(frame)
    assert "20 rows x 3 columns" in shown
    assert "'ZEBRATOWN-77' (10)" in shown and "25.0% missing" in shown
    assert "max 1.235e+05" in shown and "QUOKKA" in shown

    hidden = schema_summary(frame, send_examples=False)
    assert "city" in hidden and "income" in hidden and "25.0% missing" in hidden
    for value in ("ZEBRATOWN", "Oslo", "QUOKKA", "1.235e+05", "123456", "median"):
        assert value not in hidden

    limited = schema_summary(frame, max_examples=1)
    assert "ZEBRATOWN-77" in limited and "Oslo" not in limited


def test_schema_summary_stays_short_for_many_columns() -> None:
    frame = pd.DataFrame(np.zeros((3, 2_000)), columns=[f"feature_{i:04d}" for i in range(2_000)])
    text = schema_summary(frame)
    assert len(text) < 7_000
    assert "1940 more columns: feature_0060" in text and text.endswith("…")


def test_generation_prompt_carries_contract_upstream_and_spec() -> None:
    system, user = (m["content"] for m in generate_messages(MODEL, _context(summary=""), 3))
    assert "UPSTREAM-PREPROCESS-MARKER" in user and "UPSTREAM-FEATURES-MARKER" in user
    assert "Other accepted features modules: pca" in user
    assert MODEL.contract in user and "def build_model(trial)" in user
    assert "columns['numeric'] (1): age" in user  # column roles stand in for the summary
    assert "Target: 'churn' (binary)" in user and "F1" in user and "random_state: 7" in user
    assert ", ".join(allowed_imports()) in system and "trial.suggest_float" in system
    assert "no network, no subprocess" in system and "# name:" in system
    # preprocess has no upstream: no upstream section
    _, first = (m["content"] for m in generate_messages(PREPROCESS, _context(), 2))
    assert "UPSTREAM" not in first and "Write 2 diverse preprocess modules" in first


# ------------------------------------------------------------------ parsing

def test_parse_blocks_in_prose_with_names_deduped_and_defaults_checked() -> None:
    found = parse_candidates(THREE_MODELS, MODEL, origin="openai")
    assert [c.name for c in found] == ["logistic", "logistic_regression_v2", "svm"]
    assert all(c.status == PENDING and c.origin == "openai" for c in found)
    assert found[2].defaults == {"C": 1.0}  # "nope" is not a hyperparameter of the code
    assert found[0].description == "a LogisticRegression"
    assert "# name:" not in found[0].source and found[0].source.startswith("from sklearn")
    again = parse_candidates(_model_block("x y") + _model_block("x-y", "Ridge"), MODEL,
                             origin="openai", taken={"x_y"})
    assert [c.name for c in again] == ["x_y_2", "x_y_3"]


def test_parse_other_fences_bare_code_and_no_builder() -> None:
    tilde = ("~~~py\n# name: ../../evil name\ndef build_features(trial):\n"
             "    return 'passthrough'\n~~~")
    bare = "```\ndef build_features(trial):\n    return 'passthrough'\n```"
    found = parse_candidates(f"{tilde}\n{bare}", FEATURES, origin="openai")
    assert [c.name for c in found] == ["evil_name"]  # the second is a duplicate source
    unfenced = ("Sure! Here it is:\nfrom sklearn.decomposition import PCA\n"
                "def build_features(trial):\n    return PCA(n_components=0.9)\nEnjoy.")
    assert code_blocks(unfenced) == ["from sklearn.decomposition import PCA\n"
                                     "def build_features(trial):\n"
                                     "    return PCA(n_components=0.9)"]
    assert [c.name for c in parse_candidates(unfenced, FEATURES, origin="o")] == ["features_1"]
    assert parse_candidates("```python\nprint('hello')\n```", FEATURES, origin="o") == []
    assert parse_candidates("I cannot help with that.", FEATURES, origin="o") == []
    cut = "```python\n# name: cut\ndef build_features(trial):\n    return 'passthrough'\n"
    assert [c.name for c in parse_candidates(cut, FEATURES, origin="o")] == ["cut"]


def test_parse_keeps_statically_failing_blocks_for_repair() -> None:
    answer = ("```python\n# name: sneaky\nimport os\n\ndef build_model(trial):\n"
              "    return os.system('x')\n```\n```python\n# name: wrong_args\n"
              "def build_model(trial, extra):\n    return None\n```")
    sneaky, wrong = parse_candidates(answer, MODEL, origin="openai")
    assert sneaky.status == FAILED and "imports 'os'" in sneaky.reason
    assert wrong.status == FAILED and "must take (trial)" in wrong.reason


def test_parse_spec_is_tolerant() -> None:
    fenced = ('Here you go:\n```json\n{"target": "churn", "task_type": "Binary classification",'
              ' "metric": "F1 score", "pos_label": "yes", "reasoning": "churn is yes/no",}\n```')
    assert parse_spec(fenced) == {"target": "churn", "task_type": "binary", "metric": "f1",
                                  "pos_label": "yes", "reasoning": "churn is yes/no"}
    single = "{'target': 'price', 'task_type': 'regression', 'metric': 'RMSE'}"
    assert parse_spec(single)["metric"] == "rmse"
    odd = parse_spec('{"target": "y", "task_type": "classification", "metric": "wat"}')
    assert odd["task_type"] is None and odd["metric"] is None  # left to the data to decide
    assert parse_spec("the target is churn") is None
    assert parse_spec('{"task_type": "binary"}') is None


# ------------------------------------------------------------------ through the server

def test_generate_sends_context_and_returns_k_candidates(llm_server) -> None:
    llm_server.script(THREE_MODELS, match="Your slot: model")
    provider = OpenAIProvider(_settings(llm_server))
    found = provider.generate(MODEL, _context(k=2))
    assert [c.name for c in found] == ["logistic", "logistic_regression_v2"]
    assert all(c.origin == "openai" and c.slot == "model" for c in found)
    (request,) = llm_server.chat_requests
    assert request.headers["authorization"] == f"Bearer {SECRET}"  # the key is really used
    assert request.body["model"] == "gpt-4o-mini" and request.body["temperature"] == 0.2
    prompt = request.text()
    assert "UPSTREAM-PREPROCESS-MARKER" in prompt and "UPSTREAM-FEATURES-MARKER" in prompt
    assert MODEL.contract in prompt and "Write 2 diverse model modules" in prompt
    assert provider.usage.calls == 1 and provider.usage.prompt_tokens == 100
    assert provider.usage.cost_usd is not None and provider.usage.cost_usd > 0


def test_generate_asks_again_once_when_no_block_is_usable(llm_server) -> None:
    llm_server.script("I would use a random forest.", _model_block("forest"))
    found = OpenAIProvider(_settings(llm_server)).generate(MODEL, _context(k=4))
    assert [c.name for c in found] == ["forest"]
    second = llm_server.chat_requests[1]
    assert [m["role"] for m in second.messages] == ["system", "user", "assistant", "user"]
    assert "build_model(trial)" in second.last_user()


def test_repair_sends_the_error_and_returns_a_fixed_candidate(llm_server) -> None:
    broken = Candidate("model", "logistic", "def build_model(trial):\n    return Nope()\n",
                       description="logistic regression", origin="openai")
    llm_server.script("Fixed:\n" + _model_block("logistic"), match="NameError: REPAIR-MARKER")
    llm_server.script("Sorry, I cannot see the problem.", match="second failure")
    provider = OpenAIProvider(_settings(llm_server))
    fixed = provider.repair(broken, "NameError: REPAIR-MARKER name 'Nope' is not defined",
                            _context())
    assert fixed is not None and fixed.name == "logistic_fix1" and fixed.status == PENDING
    assert "LogisticRegression(" in fixed.source and fixed.origin == "openai"
    prompt = llm_server.chat_requests[0].last_user()
    assert "return Nope()" in prompt and MODEL.contract in prompt
    assert "UPSTREAM-FEATURES-MARKER" in prompt
    assert provider.repair(fixed, "second failure", _context()) is None


def test_propose_spec_asks_again_after_malformed_json(llm_server) -> None:
    llm_server.script("The target is probably churn, a binary task.",
                      '```json\n{"target": "churn", "task_type": "binary", "metric": "auc",'
                      ' "pos_label": 1, "reasoning": "yes/no outcome",}\n```')
    provider = OpenAIProvider(_settings(llm_server))
    spec = provider.propose_spec("Predict churn, optimize AUC", "- churn (int64): 0% missing")
    assert spec == {"target": "churn", "task_type": "binary", "metric": "roc_auc",
                    "pos_label": 1, "reasoning": "yes/no outcome"}
    first, second = llm_server.chat_requests
    assert "Predict churn, optimize AUC" in first.last_user() and "JSON" in first.system()
    assert second.messages[2]["content"].startswith("The target is probably churn")
    assert provider.usage.calls == 2


def test_rate_limit_is_retried_by_the_client(llm_server) -> None:
    llm_server.script(Reply.error(429, "Rate limit reached", code="rate_limit_exceeded",
                                  kind="requests", headers={"retry-after-ms": "20"}),
                      _model_block("after_retry"))
    provider = OpenAIProvider(_settings(llm_server, max_retries=2))
    assert [c.name for c in provider.generate(MODEL, _context())] == ["after_retry"]
    assert len(llm_server.chat_requests) == 2
    assert provider.usage.calls == 1  # one logical call, whatever the retries


def test_a_reasoning_model_rejecting_temperature_is_asked_without_it(llm_server) -> None:
    llm_server.script(Reply.error(400, "Unsupported value: 'temperature' does not support 0.2"
                                  " with this model.", code="unsupported_value"),
                      _model_block("no_temperature"))
    provider = OpenAIProvider(_settings(llm_server))
    assert [c.name for c in provider.generate(MODEL, _context())] == ["no_temperature"]
    first, second = llm_server.chat_requests
    assert "temperature" in first.body and "temperature" not in second.body


def test_timeout_after_retries_is_llm_unavailable(llm_server) -> None:
    llm_server.script(Reply("too late", delay=4))
    provider = OpenAIProvider(_settings(llm_server, timeout=1.0, max_retries=1))
    started = time.monotonic()
    with pytest.raises(LLMUnavailable, match=r"did not answer within 1 s \(after 1 retry\)"):
        provider.generate(MODEL, _context())
    assert time.monotonic() - started < 4
    assert len(llm_server.chat_requests) == 2  # the first try and one retry


def test_rejected_key_never_shows_the_key(llm_server) -> None:
    # The server quotes the key, like a careless proxy would; it must be scrubbed.
    llm_server.script(Reply.error(401, f"Incorrect API key provided: {SECRET}. Also "
                                  f"{SECRET[:12]}***", code="invalid_api_key"))
    provider = OpenAIProvider(_settings(llm_server))
    with pytest.raises(LLMUnavailable) as info:
        provider.propose_spec("Predict churn", "- churn")
    shown = "".join(traceback.format_exception(info.value))
    assert "rejected the key in $OPENAI_API_KEY" in str(info.value)
    assert "export OPENAI_API_KEY=" in str(info.value)
    assert "Incorrect API key provided" in str(info.value)
    for piece in (SECRET, "SECRET", "1234567890", SECRET[:12]):
        assert piece not in shown
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_unknown_model_says_how_to_choose_one(llm_server) -> None:
    provider = OpenAIProvider(_settings(llm_server, model="gpt-9-imaginary"))
    with pytest.raises(LLMUnavailable) as info:
        provider.generate(MODEL, _context())
    message = str(info.value)
    assert "The model 'gpt-9-imaginary' does not exist at http://127.0.0.1:" in message
    assert "%config Text2ML.model" in message and "--model" in message


def test_unreachable_endpoint_names_the_base_url() -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = LLMSettings(api_key=SECRET, base_url=f"http://127.0.0.1:{port}/v1",
                           timeout=2.0, max_retries=0)
    with pytest.raises(LLMUnavailable) as info:
        OpenAIProvider(settings).generate(MODEL, _context())
    message = str(info.value)
    assert f"Cannot reach the LLM endpoint http://127.0.0.1:{port}/v1" in message
    assert "OPENAI_BASE_URL" in message and SECRET not in message


# ------------------------------------------------------------------ cache

def test_second_identical_call_is_served_from_the_cache(llm_server, tmp_path) -> None:
    llm_server.script(THREE_MODELS)
    provider = OpenAIProvider(_settings(llm_server, cache_dir=str(tmp_path / "cache")))
    first = provider.generate(MODEL, _context())
    second = provider.generate(MODEL, _context())
    assert [c.source for c in first] == [c.source for c in second]
    assert len(llm_server.chat_requests) == 1
    assert (provider.usage.calls, provider.usage.cached) == (2, 1)
    assert provider.usage.prompt_tokens == 100  # the cached call spent nothing
    assert "2 calls (1 cached)" in provider.usage.summary()
    other = OpenAIProvider(_settings(llm_server, cache_dir=str(tmp_path / "cache"),
                                     temperature=0.9))
    other.generate(MODEL, _context())
    assert len(llm_server.chat_requests) == 2  # another temperature: another entry


def test_a_corrupted_cache_entry_is_ignored_and_replaced(llm_server, tmp_path) -> None:
    llm_server.script(THREE_MODELS)
    folder = tmp_path / "cache"
    OpenAIProvider(_settings(llm_server, cache_dir=str(folder))).generate(MODEL, _context())
    (entry,) = folder.glob("*.json")
    entry.write_bytes(b'{"format": 1, "response": {"content": "trunc\xff')
    provider = OpenAIProvider(_settings(llm_server, cache_dir=str(folder)))
    assert len(provider.generate(MODEL, _context())) == 3
    assert len(llm_server.chat_requests) == 2 and provider.usage.cached == 0
    assert json.loads(entry.read_text())["response"]["content"] == THREE_MODELS
    assert not list(folder.glob(".tmp-*"))  # atomic writes leave no temporary file


def test_the_key_is_in_no_cache_file_repr_or_error(llm_server, tmp_path) -> None:
    llm_server.script(Reply(THREE_MODELS + f"\nby the way, your key is {SECRET}"))
    folder = tmp_path / "cache"
    provider = OpenAIProvider(_settings(llm_server, cache_dir=str(folder)))
    provider.generate(MODEL, _context())
    files = [p for p in Path(folder).rglob("*") if p.is_file()]
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert "SECRET" not in text and "1234567890" not in text
        assert "UPSTREAM-FEATURES-MARKER" in text  # the request is stored, for inspection
    for text in (repr(provider), repr(provider.settings), str(provider.settings),
                 repr(provider.usage)):
        assert "SECRET" not in text


def test_response_cache_unit(tmp_path) -> None:
    cache = ResponseCache(tmp_path)
    request = {"model": "m", "messages": [{"role": "user", "content": "hi"}],
               "temperature": 0.2, "base_url": "http://x/v1"}
    assert cache.get(request) is None
    cache.put(request, {"content": "hello"})
    assert cache.get(dict(reversed(list(request.items())))) == {"content": "hello"}
    assert cache.key({**request, "api_key": SECRET}) == cache.key(request)
    cache.path(request).write_text("[1, 2")
    assert cache.get(request) is None


# ------------------------------------------------------------------ usage and scrubbing

def test_usage_prices_and_summary() -> None:
    assert price_of("gpt-4o-mini-2024-07-18") == price_of("gpt-4o-mini") == (0.15, 0.60)
    assert price_of("openai/gpt-4o") == (2.50, 10.00)
    assert price_of("gpt-4o-audio-preview") is None and price_of("llama3.1") is None
    usage = Usage()
    for _ in range(6):
        usage.add(2_000, 400, model="gpt-4o-mini")
    for _ in range(3):
        usage.add(model="gpt-4o-mini", cached=True)
    assert usage.summary() == ("LLM: 9 calls (3 cached), 12,000 prompt + 2,400 completion "
                               "tokens, about $0.003")
    assert dataclasses.asdict(usage) == usage.to_dict()  # what the engine writes
    assert pickle.loads(pickle.dumps(usage)).summary() == usage.summary()
    local = Usage()
    local.add(10, 5, model="llama3.1")
    assert local.cost_usd is None and local.summary().endswith("5 completion tokens")


def test_scrub_masks_the_key_and_its_pieces() -> None:
    text = f"key {SECRET}, partial sk-test-SECRET-12**** and ****4567890, ok sk-test"
    cleaned = scrub(f"{text} and ****34567890", SECRET)
    assert cleaned.startswith("key ***, partial *******")
    for piece in ("SECRET", "34567890", "sk-test-"):
        assert piece not in cleaned
    assert cleaned.endswith("****4567890, ok sk-test and *******")  # under 8 characters: kept
    assert scrub(text, None) == text and scrub(text, "not-needed") == text
