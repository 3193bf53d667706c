"""Fixtures for the browser tests: a real JupyterLab server, Chromium, pages.

When a test fails (in its set-up or its body), the screenshot and console log of every page
it uses and the server's log are saved to ``test-artifacts/browser/`` in the repository.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from _lab import (
    ARTIFACTS_DIR,
    CHROMIUM,
    CHROMIUM_ARGS,
    CONSOLES,
    LabServer,
    Notebook,
    new_page,
    start_lab,
    stop_lab,
)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failure, save the pages' screenshots and logs while the fixtures still live."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)  # for fixtures that look at the outcome
    if report.failed and report.when in ("setup", "call"):
        try:
            _save_artifacts(item)
        except Exception as exc:  # never hide the test's own failure
            report.sections.append(("browser artifacts", f"could not save: {exc!r}"))


def _page_of(value: Any) -> Any:
    """The Playwright page behind a fixture value: a page, a Notebook, or a holder of one."""
    for candidate in (value, getattr(value, "nb", None)):
        if isinstance(candidate, Notebook):
            return candidate.page
    return value


def _save_artifacts(item: pytest.Item) -> None:
    """Screenshot + console log of each page, the server's log, the notebook files."""
    values = list(getattr(item, "funcargs", {}).values())
    pages = {id(p): p for p in map(_page_of, values) if id(p) in CONSOLES}
    servers = [v for v in values if isinstance(v, LabServer)]
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = ARTIFACTS_DIR / re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid.split("::", 1)[-1])
    for n, page in enumerate(pages.values()):
        suffix = f".{n}" if n else ""
        console = CONSOLES.get(id(page), [])
        try:
            page.screenshot(path=f"{stem}{suffix}.png", full_page=True)
        except Exception as exc:  # the page may be gone; the logs still matter
            console = [*console, f"[harness] screenshot failed: {exc}"]
        Path(f"{stem}{suffix}.console.log").write_text("\n".join(console) + "\n")
    for server in servers:
        Path(f"{stem}.server.log").write_text(server.log_text())
        for nb in server.root_dir.glob("*.ipynb"):  # the notebooks as they are on disk
            shutil.copy(nb, f"{stem}.{nb.name}")


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Generator[LabServer, None, None]:
    """JupyterLab from this venv on 127.0.0.1, a free port, a random token, a tmp root."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    server = start_lab(tmp_path_factory.mktemp("jupyterlab"))
    try:
        yield server
    finally:
        stop_lab(server)


@pytest.fixture(scope="module")
def browser() -> Generator[Any, None, None]:
    """Headless Debian Chromium driven by Playwright (no Playwright browser download)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page for one test."""
    with new_page(browser) as page:
        yield page
