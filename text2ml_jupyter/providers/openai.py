"""The LLM provider: candidates written by a model behind an OpenAI-compatible endpoint.

OpenAI itself, or any server speaking ``/v1/chat/completions`` (Ollama, vLLM, llama.cpp,
LM Studio) through ``base_url``. It proposes the task spec, writes K candidates per slot
in the context of the accepted upstream candidates, and repairs a candidate from its test
failure. Calls go through the official ``openai`` client, which retries rate limits,
server errors and timeouts with backoff; what still fails becomes ``LLMUnavailable`` with
a message saying what to check.

The API key is a secret: it is kept out of every ``repr``, message, log and cache file,
and any text that comes back from the server or the client is scrubbed of it.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..candidates import Candidate
from ..errors import Text2MLError
from ..slots import SLOTS_BY_NAME, Slot
from . import GenerationContext
from ._parse import parse_candidates, parse_spec, valid_defaults
from ._usage import Usage
from .cache import ResponseCache
from .prompts import (generate_messages, generate_retry_message, repair_messages,
                      spec_messages, spec_retry_message)

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
OPENAI_ENDPOINT = "https://api.openai.com/v1"
PLACEHOLDER_KEY = "not-needed"  # local servers ignore the key, the client wants one
_LOCAL_EXAMPLE = "http://localhost:11434/v1"
_MAX_DETAIL = 300  # characters of a server's error message quoted to the user


class LLMUnavailable(Text2MLError):
    """The endpoint is unreachable, the key was rejected, or the model does not exist.

    The message says what to check; it never contains the API key.
    """


@dataclass(frozen=True)
class LLMSettings:
    """How to reach the model. ``api_key`` never appears in ``repr`` or ``str``.

    ``api_key_env`` only names where the key came from, so messages can say which
    variable to fix ("" when the key was given directly).
    """

    model: str = DEFAULT_MODEL
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    temperature: float = 0.2
    timeout: float = 60.0  # seconds per request
    max_retries: int = 3  # the openai client's own retries with backoff (429, 5xx, timeouts)
    cache_dir: str | None = None  # None: no disk cache
    send_examples: bool = True  # False: prompts carry no example values at all
    api_key_env: str = DEFAULT_KEY_ENV

    def __post_init__(self) -> None:
        if not self.model or not str(self.model).strip():
            raise Text2MLError("The LLM model name is empty.",
                               "Set --model or %config Text2ML.model = \"gpt-4o-mini\".")
        if not (isinstance(self.timeout, (int, float)) and self.timeout > 0):
            raise Text2MLError(f"The LLM timeout must be a positive number of seconds, "
                               f"not {self.timeout!r}.", "Use for example timeout=60.")
        if not (isinstance(self.max_retries, int) and self.max_retries >= 0):
            raise Text2MLError(f"max_retries must be a whole number >= 0, not "
                               f"{self.max_retries!r}.", "Use for example max_retries=3.")
        if not (isinstance(self.temperature, (int, float)) and 0 <= self.temperature <= 2):
            raise Text2MLError(f"The LLM temperature must be between 0 and 2, not "
                               f"{self.temperature!r}.", "Use for example temperature=0.2.")

    @classmethod
    def resolve(cls, *, model: str | None = None, api_key: str | None = None,
                api_key_env: str | None = DEFAULT_KEY_ENV, base_url: str | None = None,
                **rest: Any) -> LLMSettings:
        """Settings from the arguments, else the environment (``api_key_env``,
        ``OPENAI_BASE_URL``, ``OPENAI_MODEL``). A local server (a base URL) needs no key.

        Raises Text2MLError saying exactly what to set when there is neither a key nor a
        base URL. Options passed as None keep their defaults.
        """
        env_name = api_key_env or DEFAULT_KEY_ENV
        key = api_key or os.environ.get(env_name) or None
        from ..sandbox import hide_from_workers

        hide_from_workers(env_name)  # candidate code must not read the key, whatever its name
        url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        if key is None and url is None:
            raise Text2MLError(
                f"No LLM is configured: ${env_name} is not set and there is no "
                "OPENAI_BASE_URL.",
                f"Set the key with `export {env_name}=...` before starting Python or Jupyter "
                f"(in Jupyter, to read another variable: %config Text2ML.api_key_env = "
                f"\"MY_KEY_VAR\"), or for a local OpenAI-compatible server "
                f"`export OPENAI_BASE_URL={_LOCAL_EXAMPLE}` (in Jupyter: "
                f"%config Text2ML.base_url = \"{_LOCAL_EXAMPLE}\"). "
                "Or use the offline provider.")
        options = {k: v for k, v in rest.items() if v is not None}
        return cls(model=model or os.environ.get("OPENAI_MODEL") or DEFAULT_MODEL,
                   api_key=key or PLACEHOLDER_KEY, base_url=url,
                   api_key_env="" if api_key else env_name, **options)

    @staticmethod
    def configured(api_key_env: str = DEFAULT_KEY_ENV) -> bool:
        """Whether the environment names an LLM: a key in ``api_key_env`` or a base URL."""
        return bool(os.environ.get(api_key_env or DEFAULT_KEY_ENV)
                    or os.environ.get("OPENAI_BASE_URL"))

    @property
    def endpoint(self) -> str:
        """The base URL as shown to the user: without credentials, query or fragment."""
        return _display_url(self.base_url or OPENAI_ENDPOINT)


class OpenAIProvider:
    """Writes and repairs candidates with a chat model; ``usage`` keeps the running totals.

    Safe to call from several threads (the client is; the totals are locked).
    """

    name = "openai"

    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        self.usage = Usage()
        self._cache = ResponseCache(settings.cache_dir) if settings.cache_dir else None
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._send_temperature = True  # some reasoning models accept only their default

    def __repr__(self) -> str:
        return f"OpenAIProvider(model={self.settings.model!r}, endpoint={self.settings.endpoint!r})"

    # ---------------------------------------------------------------- the provider API

    def propose_spec(self, task: str, schema: str) -> dict[str, Any] | None:
        """The model's reading of the task: ``{"target", "task_type", "metric", "pos_label",
        "reasoning"}`` (see ``_parse.parse_spec``), or None when it gives nothing usable
        after one follow-up asking for plain JSON. The caller checks it against the data."""
        messages = spec_messages(task, schema)
        answer = self._complete(messages)
        spec = parse_spec(answer)
        if spec is None:
            answer = self._complete(
                messages + spec_retry_message(answer, "no JSON object with a \"target\""))
            spec = parse_spec(answer)
        return spec

    def generate(self, slot: Slot, context: GenerationContext) -> list[Candidate]:
        """Up to ``context.k`` candidates for ``slot`` (origin "openai"), best first.

        Candidates that fail the static contract check come back with status FAILED and
        the reason, ready for ``repair``. An answer without any usable block gets one
        follow-up asking for the required format.
        """
        k = int(context.k)
        if k < 1:
            return []
        messages = generate_messages(slot, context, k)
        answer = self._complete(messages)
        found = parse_candidates(answer, slot, origin=self.name)
        if not found:
            answer = self._complete(messages + generate_retry_message(answer, slot))
            found = parse_candidates(answer, slot, origin=self.name)
        for candidate in found:
            candidate.description = candidate.description or f"written by {self.settings.model}"
        return found[:k]

    def repair(self, candidate: Candidate, error: str,
               context: GenerationContext) -> Candidate | None:
        """A fixed version of ``candidate`` named ``<name>_fix<n>``, or None when the answer
        holds no usable block or only the same code again."""
        slot = SLOTS_BY_NAME[candidate.slot]
        answer = self._complete(repair_messages(candidate, error, context))
        fixed = parse_candidates(answer, slot, origin=self.name)
        if not fixed or fixed[0].source.strip() == candidate.source.strip():
            return None
        new = fixed[0]
        new.name = _fix_name(candidate.name)
        new.description = new.description or candidate.description
        new.defaults = new.defaults or valid_defaults(new.source, candidate.defaults)
        return new

    # ---------------------------------------------------------------- calls

    def _complete(self, messages: list[dict[str, str]]) -> str:
        """The model's answer to ``messages``: from the cache, else from the endpoint."""
        settings = self.settings
        # What is sent (and cached) never carries the key: a candidate's test error can
        # quote it (candidate code runs in workers that inherit the environment).
        messages = [{**m, "content": self._scrub(str(m.get("content") or ""))}
                    for m in messages]
        request = {"model": settings.model, "messages": messages,
                   "temperature": settings.temperature, "base_url": settings.endpoint}
        if self._cache is not None:
            hit = self._cache.get(request)
            if hit is not None and isinstance(hit.get("content"), str):
                self.usage.add(model=settings.model, cached=True)
                return hit["content"]
        response = self._create(messages)
        choice = response.choices[0] if getattr(response, "choices", None) else None
        content = self._scrub((choice.message.content if choice else None) or "")
        used = getattr(response, "usage", None)  # some local servers send none
        prompt_tokens = int(getattr(used, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(used, "completion_tokens", 0) or 0)
        self.usage.add(prompt_tokens, completion_tokens, model=settings.model)
        if self._cache is not None and content.strip():  # an empty answer is not worth keeping
            self._cache.put(request, {
                "content": content, "finish_reason": getattr(choice, "finish_reason", None),
                "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens})
        return content

    def _create(self, messages: list[dict[str, str]]) -> Any:
        """One chat completion (the client retries); errors become LLMUnavailable."""
        import openai

        client = self._openai_client()
        options: dict[str, Any] = {"model": self.settings.model, "messages": messages}
        if self._send_temperature:
            options["temperature"] = self.settings.temperature
        failure: LLMUnavailable | None = None
        try:
            try:
                return client.chat.completions.create(**options)
            except openai.BadRequestError as exc:
                # Reasoning models (o-series, gpt-5) reject any temperature but their own.
                if "temperature" not in options or "temperature" not in _detail(exc).lower():
                    raise
                self._send_temperature = False
                del options["temperature"]
                return client.chat.completions.create(**options)
        except openai.OpenAIError as exc:
            failure = self._unavailable(exc)
        # Raised outside the handler: the client's exception (whose body may quote the key)
        # is then neither the cause nor the context of what the user sees.
        raise failure

    def _openai_client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                import openai

                settings = self.settings
                self._client = openai.OpenAI(
                    api_key=settings.api_key or PLACEHOLDER_KEY, base_url=settings.base_url,
                    timeout=settings.timeout, max_retries=settings.max_retries)
            return self._client

    def _unavailable(self, exc: Exception) -> LLMUnavailable:
        """A clear, secret-free LLMUnavailable for an error of the openai client."""
        import openai

        s = self.settings
        endpoint, model = s.endpoint, s.model
        detail = self._scrub(_detail(exc))
        retries = f"after {s.max_retries} retr{'y' if s.max_retries == 1 else 'ies'}"
        key = f"the key in ${s.api_key_env}" if s.api_key_env else "the API key"
        key_fix = (f"Set a valid key: `export {s.api_key_env or DEFAULT_KEY_ENV}=...` (in "
                   "Jupyter, another variable: %config Text2ML.api_key_env = \"MY_KEY_VAR\").")
        model_fix = (f"Set --model or %config Text2ML.model = \"...\" to a model the endpoint "
                     f"serves (GET {endpoint}/models lists them), or check that the base URL "
                     "ends in /v1.")
        status = getattr(exc, "status_code", None)
        if isinstance(exc, openai.APITimeoutError):
            problem = (f"The LLM endpoint {endpoint} did not answer within {s.timeout:g} s "
                       f"({retries}).")
            fix = "Try again, or allow more time per request (timeout=...)."
        elif isinstance(exc, openai.APIConnectionError):
            problem = f"Cannot reach the LLM endpoint {endpoint}: {detail}"
            fix = ("Check OPENAI_BASE_URL (%config Text2ML.base_url) and that the server runs "
                   "and is reachable from this machine.")
        elif isinstance(exc, openai.AuthenticationError):
            problem = f"The LLM endpoint {endpoint} rejected {key} (401: {detail})"
            fix = key_fix
        elif isinstance(exc, openai.PermissionDeniedError):
            problem = (f"{key.capitalize()} may not use the model {model!r} at {endpoint} "
                       f"(403: {detail})")
            fix = f"{model_fix} Or use a key with access to it."
        elif isinstance(exc, openai.NotFoundError):
            problem = f"The model {model!r} does not exist at {endpoint} (404: {detail})"
            fix = model_fix
        elif isinstance(exc, openai.RateLimitError):
            if "quota" in detail.lower():
                problem = f"The account behind {key} has no quota left at {endpoint} ({detail})"
                fix = "Add credit to the account or use another key, model or endpoint."
            else:
                problem = (f"The LLM endpoint {endpoint} is rate limiting requests "
                           f"({retries}: {detail})")
                fix = "Wait a minute and try again, or raise max_retries."
        elif isinstance(exc, openai.APIStatusError) and (status or 0) >= 500:
            problem = f"The LLM endpoint {endpoint} failed ({status}, {retries}: {detail})"
            fix = "Try again later, or use another endpoint or model."
        elif isinstance(exc, openai.APIStatusError):
            problem = f"The LLM endpoint {endpoint} refused the request ({status}: {detail})"
            fix = f"Check that the model {model!r} supports chat completions at this endpoint."
        else:
            problem = f"The LLM call to {endpoint} failed: {type(exc).__name__}: {detail}"
            fix = "Check the endpoint, the model and the key."
        return LLMUnavailable(self._scrub(problem), self._scrub(fix))

    def _scrub(self, text: str) -> str:
        return scrub(text, self.settings.api_key)


# -------------------------------------------------------------------- helpers

def scrub(text: str, secret: str | None) -> str:
    """``text`` with ``secret`` and every 8+ character piece of it replaced by ``***``.

    Servers quote keys partially ("sk-proj-****abcd"); masking every shared 8-character
    window covers those and the whole key alike.
    """
    if not text or not secret or secret == PLACEHOLDER_KEY:
        return text
    if len(secret) < 8:
        return text.replace(secret, "***") if len(secret) >= 4 else text
    windows = {secret[i:i + 8] for i in range(len(secret) - 7)}
    masked = bytearray(len(text))
    for i in range(len(text) - 7):
        if text[i:i + 8] in windows:
            masked[i:i + 8] = b"\1" * 8
    if not any(masked):
        return text
    out, i = [], 0
    while i < len(text):
        if masked[i]:
            while i < len(text) and masked[i]:
                i += 1
            out.append("***")
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _detail(exc: Exception) -> str:
    """The useful part of a client error: the server's message, else the cause."""
    body = getattr(exc, "body", None)
    message = None
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
    if not message and exc.__cause__ is not None and str(exc.__cause__):
        message = str(exc.__cause__)
    text = " ".join(str(message or exc or type(exc).__name__).split())
    return text if len(text) <= _MAX_DETAIL else text[:_MAX_DETAIL - 1] + "…"


def _display_url(url: str) -> str:
    """``url`` without user info, query or fragment (a URL may carry credentials)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", "")) or "<base URL>"


def _fix_name(name: str) -> str:
    """``model_x`` -> ``model_x_fix1``; ``model_x_fix1`` -> ``model_x_fix2``."""
    match = re.fullmatch(r"(?P<base>.+)_fix(?P<n>\d+)", name)
    if match:
        return f"{match.group('base')}_fix{int(match.group('n')) + 1}"
    return f"{name}_fix1"
