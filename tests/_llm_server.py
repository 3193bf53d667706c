"""A scripted OpenAI-compatible server for tests: real HTTP, real ``openai`` client.

It speaks ``POST /v1/chat/completions`` and ``GET /v1/models`` on 127.0.0.1 (a free port)
from a thread. A test scripts replies with rules, checked in the order they were added::

    llm_server.script("```python\\n...```", match="Your slot: model")   # last user message
    llm_server.script(Reply.error(429, "slow down"), "ok")             # one per call, in order
    llm_server.script(Reply("late", delay=3), system="AutoML")         # system prompt

A rule with several replies answers one per matching call and repeats its last reply.
A request no rule matches gets a 500 (not retried) naming the problem, so a test fails
loudly. Every request is recorded (path, headers, JSON body) in ``llm_server.requests``.

The ``llm_server`` fixture (in ``conftest.py``) starts one per test and stops it after.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer: a completion (``content``) or an error (``status`` >= 400)."""

    content: str = ""
    status: int = 200
    error_json: dict[str, Any] | None = None  # OpenAI's {"message", "type", "param", "code"}
    delay: float = 0.0  # seconds before answering
    prompt_tokens: int = 100
    completion_tokens: int = 20
    headers: dict[str, str] = field(default_factory=dict)
    finish_reason: str = "stop"

    @classmethod
    def error(cls, status: int, message: str, *, code: str | None = None,
              kind: str = "invalid_request_error", **options: Any) -> Reply:
        """An error in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""
        return cls(status=status, error_json={"message": message, "type": kind,
                                              "param": None, "code": code}, **options)


@dataclass
class Recorded:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list((self.body or {}).get("messages") or [])

    def last_user(self) -> str:
        users = [m for m in self.messages if m.get("role") == "user"]
        return str(users[-1].get("content", "")) if users else ""

    def system(self) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.messages
                         if m.get("role") == "system")

    def text(self) -> str:
        """Every message's content, joined (for "appears in the prompt" checks)."""
        return "\n".join(str(m.get("content", "")) for m in self.messages)


@dataclass
class _Rule:
    replies: list[Reply]
    match: str | None
    system: str | None
    served: int = 0

    def matches(self, request: Recorded) -> bool:
        return ((self.match is None or self.match in request.last_user())
                and (self.system is None or self.system in request.system()))

    def next_reply(self) -> Reply:
        reply = self.replies[min(self.served, len(self.replies) - 1)]
        self.served += 1
        return reply


class ScriptedLLMServer:
    """The server; ``base_url`` is ready once ``start()`` returned."""

    def __init__(self, models: tuple[str, ...] = ("gpt-4o-mini",)) -> None:
        self.models = list(models)  # GET /v1/models; a chat request for another -> 404
        self.requests: list[Recorded] = []
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "start() the server first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def script(self, *replies: str | Reply, match: str | None = None,
               system: str | None = None) -> None:
        """Answer requests whose last user message contains ``match`` and whose system
        prompt contains ``system`` (None: any) with ``replies``, one per call."""
        if not replies:
            raise ValueError("script() needs at least one reply")
        rule = _Rule([r if isinstance(r, Reply) else Reply(r) for r in replies], match, system)
        with self._lock:
            self._rules.append(rule)

    @property
    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def start(self) -> ScriptedLLMServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        # A short poll keeps shutdown() (each test's teardown) fast.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        name="scripted-llm-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping through a delay
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ---------------------------------------------------------------- answering

    def _record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    def _answer(self, request: Recorded) -> tuple[int, dict[str, Any], dict[str, str], float]:
        """(status, JSON body, extra headers, delay) for a recorded request."""
        if request.method == "GET" and request.path.rstrip("/").endswith("/models"):
            return 200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "test"}
                for m in self.models]}, {}, 0.0
        if request.method != "POST" or not request.path.endswith("/v1/chat/completions"):
            return 404, _error_body(f"Unknown path {request.path}", "not_found"), {}, 0.0
        body = request.body if isinstance(request.body, dict) else {}
        model = body.get("model")
        if self.models and model not in self.models:
            return 404, _error_body(f"The model `{model}` does not exist or you do not have "
                                    "access to it.", "model_not_found"), {}, 0.0
        with self._lock:
            rule = next((r for r in self._rules if r.matches(request)), None)
            reply = rule.next_reply() if rule else None
        if reply is None:
            return 500, _error_body("scripted server: no rule matches this request",
                                    "no_rule"), {"x-should-retry": "false"}, 0.0
        if reply.status >= 400:
            error = reply.error_json or {"message": "error", "type": "api_error", "param": None,
                                    "code": None}
            return reply.status, {"error": error}, reply.headers, reply.delay
        return 200, {
            "id": f"chatcmpl-test{len(self.requests)}", "object": "chat.completion",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "finish_reason": reply.finish_reason, "logprobs": None,
                         "message": {"role": "assistant", "content": reply.content}}],
            "usage": {"prompt_tokens": reply.prompt_tokens,
                      "completion_tokens": reply.completion_tokens,
                      "total_tokens": reply.prompt_tokens + reply.completion_tokens},
        }, reply.headers, reply.delay


def _error_body(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None,
                      "code": code}}


def _handler_for(server: ScriptedLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like real endpoints

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # quiet test output

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._handle()

        def do_POST(self) -> None:  # noqa: N802
            self._handle()

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            request = Recorded(self.command, self.path,
                               {k.lower(): v for k, v in self.headers.items()}, body)
            server._record(request)
            status, payload, headers, delay = server._answer(request)
            if delay and server._stopping.wait(delay):
                return
            data = json.dumps(payload).encode("utf-8")
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout): nothing to answer

    return Handler
