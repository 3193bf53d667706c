"""Shared fixtures: the repository's paths, the shipped Titanic data, a run folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

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
