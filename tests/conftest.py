"""Shared fixtures: the repository's paths, the shipped Titanic data, a run folder, the
scripted OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from _llm_server import ScriptedLLMServer

REPO_ROOT = Path(__file__).resolve().parent.parent
TITANIC_CSV = REPO_ROOT / "notebooks" / "data" / "titanic.csv"


@pytest.fixture(scope="session")
def titanic_csv() -> Path:
    """Path of the Titanic CSV the project ships (891 rows, target ``survived``)."""
    return TITANIC_CSV


@pytest.fixture
def titanic_df() -> pd.DataFrame:
    """A fresh copy of the Titanic data for each test (tests may modify it)."""
    return pd.read_csv(TITANIC_CSV)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """An empty run folder inside the test's temporary directory."""
    path = tmp_path / "run"
    path.mkdir()
    return path


@pytest.fixture(autouse=True)
def _no_llm_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """provider="auto" picks an LLM when a key or endpoint is set: tests that want one
    configure the scripted server explicitly, and no test ever calls a real service."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def make_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``make_shell()``: a fresh InteractiveShell, as after a kernel restart (working
    directory and IPYTHONDIR in tmp); cleared after the test."""
    from _shells import new_shell
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / ".ipython"))
    yield new_shell
    InteractiveShell.clear_instance()


@pytest.fixture
def llm_server() -> Iterator[ScriptedLLMServer]:
    """A running scripted server; ``.base_url``, ``.script(...)``, ``.requests``."""
    server = ScriptedLLMServer().start()
    try:
        yield server
    finally:
        server.stop()
