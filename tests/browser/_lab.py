"""Drive a real JupyterLab: its server process, and a notebook page in Chromium.

The server runs from this venv with isolated Jupyter config/data/runtime folders (the
venv's ``share/jupyter`` stays on the data path through ``sys.prefix``, so the installed
labextensions and the ``python3`` kernel are found) and ``LabApp.expose_app_in_browser``,
so the page exposes ``window.jupyterapp``. :class:`Notebook` reads and drives one open
notebook through that object (cell models, commands) and through the DOM.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import nbformat

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-dev-shm-usage"]

T = TypeVar("T")

# User settings that keep the UI quiet and deterministic: no news/update toasts, every
# cell in the DOM (no windowing), no autosave racing the test's own saves, no
# auto-closed brackets when typing.
_USER_SETTINGS: dict[str, dict[str, Any]] = {
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/codemirror-extension/plugin": {
        "defaultConfig": {"autoClosingBrackets": False},
    },
}


# --------------------------------------------------------------------------- the server


@dataclass
class LabServer:
    """A running JupyterLab server started by :func:`start_lab`."""

    proc: subprocess.Popen[bytes]
    port: int
    token: str
    root_dir: Path
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` (starting with ``/``) with the token appended."""
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}{path}{sep}token={self.token}"

    def api(self, method: str, path: str, body: Any = None, timeout: float = 10) -> Any:
        """Call the server's REST API; returns the decoded JSON (None for no content)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}",
                     "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def log_text(self) -> str:
        """The server's log so far (stdout and stderr, kernels' stderr included)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


def start_lab(base: Path, timeout: float = 90) -> LabServer:
    """Start ``python -m jupyterlab`` under ``base`` and wait until ``/api/status`` answers."""
    root_dir, config_dir, data_dir, runtime_dir = (
        base / name for name in ("root", "config", "data", "runtime")
    )
    settings_dir, workspaces_dir = base / "settings", base / "workspaces"
    for path in (root_dir, config_dir, data_dir, runtime_dir, settings_dir, workspaces_dir):
        path.mkdir(parents=True, exist_ok=True)
    for name, values in _USER_SETTINGS.items():
        _write_json(settings_dir / f"{name}.jupyterlab-settings", values)
    _write_json(
        config_dir / "jupyter_server_config.json",
        {
            "ServerApp": {
                "open_browser": False,
                "terminals_enabled": False,
                "jpserver_extensions": {"jupyter_server_terminals": False},
            },
            "LabApp": {
                "news_url": None,
                "check_for_updates_class":
                    "jupyterlab.handlers.announcements.NeverCheckForUpdate",
                "expose_app_in_browser": True,
                "extension_manager": "readonly",  # no PyPI queries
                "user_settings_dir": str(settings_dir),
                "workspaces_dir": str(workspaces_dir),
            },
        },
    )
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config_dir),
        "JUPYTER_DATA_DIR": str(data_dir),
        "JUPYTER_RUNTIME_DIR": str(runtime_dir),
        "JUPYTER_PLATFORM_DIRS": "1",
        "IPYTHONDIR": str(base / "ipython"),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "PYTHONUNBUFFERED": "1",
    }
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser",
        "--allow-root",  # CI containers often run as root
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root_dir}",
    ]  # fmt: skip
    log_path = base / "jupyterlab.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=root_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    server = LabServer(proc, port, token, root_dir, log_path)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited ({proc.returncode}):\n"
                               f"{server.log_text()[-4000:]}")
        try:
            server.api("GET", "/api/status", timeout=2)
            return server
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if time.monotonic() > deadline:
            stop_lab(server)
            raise RuntimeError(f"JupyterLab did not answer in {timeout:.0f} s:\n"
                               f"{server.log_text()[-4000:]}")
        time.sleep(0.3)


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _descendants(pid: int) -> list[int]:
    """All processes below ``pid`` (kernels, their workers)."""
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def stop_lab(server: LabServer) -> None:
    """Shut the server down through its API (it stops its kernels), then kill leftovers."""
    leftovers = _descendants(server.proc.pid)
    try:
        server.api("POST", "/api/shutdown", timeout=5)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        pass
    try:
        server.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=10)
    for pid in leftovers:  # processes this server started (its kernels and their children)
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


# ----------------------------------------------------------------------- notebook files


def write_notebook(path: Path, cells: Sequence[tuple[str, str]]) -> list[str]:
    """Write a notebook of ``(kind, source)`` cells (kind ``code`` or ``markdown``);
    returns the cell ids (nbformat 4.5)."""
    makers = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell}
    nb = nbformat.v4.new_notebook()
    nb.cells = [makers[kind](source) for kind, source in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return [cell.id for cell in nb.cells]


def wait_for(
    predicate: Callable[[], T], timeout: float, interval: float = 0.25, what: str = "condition"
) -> T:
    """Poll ``predicate`` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what} "
                               f"(last: {value!r})")
        time.sleep(interval)


# --------------------------------------------------------------------- a notebook page

# Console messages of each open page, by id(page), for failure reports.
CONSOLES: dict[int, list[str]] = {}


@contextmanager
def new_page(browser: Any) -> Iterator[Any]:
    """A page in a fresh browser context, its console recorded in :data:`CONSOLES`."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    page = context.new_page()
    console: list[str] = []
    CONSOLES[id(page)] = console
    page.on("console", lambda msg: console.append(f"[{msg.type}] {msg.text}"))
    page.on("pageerror", lambda exc: console.append(f"[pageerror] {exc}"))

    def http_error(response: Any) -> None:
        if response.status >= 400:
            console.append(f"[http {response.status}] {response.request.method} {response.url}")

    page.on("response", http_error)
    try:
        yield page
    finally:
        CONSOLES.pop(id(page), None)
        context.close()


# Finds the notebook panel for `path` among the main area's widgets.
_PANEL_JS = """
const app = window.jupyterapp;
const panel = Array.from(app.shell.widgets('main'))
    .find(w => w.context && w.context.path === args.path);
"""


class Notebook:
    """One notebook open in JupyterLab in a Playwright page."""

    def __init__(self, page: Any, server: LabServer, name: str) -> None:
        self.page, self.server, self.name = page, server, name
        self.path = server.root_dir / name

    # -- plumbing

    def js(self, body: str, **args: Any) -> Any:
        """Evaluate ``body`` (an async function body; ``app``, ``panel``, ``args`` in scope)."""
        args["path"] = self.name
        return self.page.evaluate(f"async (args) => {{ {_PANEL_JS}\n{body}\n}}", args)

    # -- opening, kernel

    def open(self, timeout: float = 90) -> Notebook:
        """Open the notebook by URL; wait until its kernel is idle."""
        # ?reset: a clean workspace, so notebooks of earlier tests do not reopen beside it
        self.page.goto(self.server.url(f"/lab/tree/{self.name}?reset"))
        self.page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell",
                                    timeout=timeout * 1000)
        ready = "return !!(panel && panel.context.isReady && panel.content.widgets.length);"
        wait_for(lambda: self.js(ready), timeout, what=f"{self.name} to open")
        self.wait_kernel_idle(timeout)
        return self

    def kernel_status(self) -> str:
        """The kernel's status (``idle``, ``busy``, ``starting``...), ``none`` without one."""
        return str(self.js(
            "const k = panel.sessionContext.session && panel.sessionContext.session.kernel;"
            "return k ? k.status : 'none';"
        ))  # fmt: skip

    def wait_kernel_idle(self, timeout: float = 60) -> None:
        wait_for(lambda: self.kernel_status() == "idle", timeout, what="an idle kernel")

    def command(self, command: str, wait: bool = True, **cmd_args: Any) -> Any:
        """Run a JupyterLab command (``wait=False``: don't wait for its promise)."""
        body = "const p = app.commands.execute(args.command, args.cmdArgs);"
        body += "return await p;" if wait else "p.catch(e => console.error(e)); return null;"
        return self.js(body, command=command, cmdArgs=cmd_args)

    def shutdown_kernel(self) -> None:
        """Shut the notebook's kernel down (frees the machine for the next test)."""
        self.js("await panel.sessionContext.shutdown();")

    # -- cells (model)

    def cells(self) -> list[dict[str, Any]]:
        """Every cell as the page's model has it: id, type, source, metadata, count."""
        return self.js("""
            return panel.content.widgets.map(c => ({
                id: c.model.id, cell_type: c.model.type,
                source: c.model.sharedModel.getSource(),
                metadata: c.model.sharedModel.getMetadata(),
                execution_count: c.model.type === 'code' ? c.model.executionCount : null,
            }));
        """)

    def index_of(self, cell_id: str) -> int:
        ids = [cell["id"] for cell in self.cells()]
        return ids.index(cell_id)

    def set_source(self, index: int, source: str) -> None:
        """Replace a cell's source through its shared model (like typing it)."""
        self.js("panel.content.widgets[args.index].model.sharedModel.setSource(args.source);",
                index=index, source=source)  # fmt: skip

    def select(self, index: int) -> None:
        """Make cell ``index`` the only selected, active cell (command mode)."""
        self.js("""
            const nb = panel.content;
            nb.mode = 'command';
            nb.deselectAll();
            nb.activeCellIndex = args.index;
            app.shell.activateById(panel.id);
        """, index=index)  # fmt: skip

    def insert_cell(self, index: int, source: str, kind: str = "code") -> str:
        """Insert a cell at ``index`` through the notebook's shared model; returns its id."""
        return str(self.js("""
            panel.content.model.sharedModel.insertCell(
                args.index, {cell_type: args.kind, source: args.source});
            return panel.content.widgets[args.index].model.id;
        """, index=index, kind=kind, source=source))  # fmt: skip

    def locator(self, selector: str) -> Any:
        """A Playwright locator inside this notebook's panel (tabs, toolbar, cells)."""
        panel_id = self.js("return panel.id;")
        return self.page.locator(f"[id='{panel_id}']").locator(selector)

    def cell_locator(self, index: int) -> Any:
        return self.locator(".jp-Notebook .jp-Cell").nth(index)

    def type_into(self, index: int, text: str, at_end: bool = True) -> None:
        """Type ``text`` with the keyboard into cell ``index``'s editor (at its end)."""
        editor = self.cell_locator(index).locator(".jp-InputArea-editor .cm-content")
        editor.click()
        if at_end:
            self.page.keyboard.press("Control+End")
        self.page.keyboard.type(text)
        self.page.keyboard.press("Escape")

    # -- running

    def run(self, index: int) -> int | None:
        """Start running cell ``index`` (no waiting); returns its previous execution count."""
        before = self.js("return panel.content.widgets[args.index].model.executionCount;",
                         index=index)
        self.select(index)
        self.command("notebook:run-cell", wait=False)
        return before

    def wait_done(self, index: int, before: int | None, timeout: float = 60) -> int:
        """Wait until cell ``index`` has finished the run started by :meth:`run`."""
        def done() -> int | None:
            count = self.js("""
                const c = panel.content.widgets[args.index];
                const prompt = c.node.querySelector('.jp-InputArea-prompt');
                if (prompt && prompt.textContent.includes('*')) return null;
                return c.model.executionCount;
            """, index=index)  # fmt: skip
            return count if count is not None and count != before else None
        return wait_for(done, timeout, what=f"cell {index} to finish running")

    def run_and_wait(self, index: int, timeout: float = 60) -> int:
        return self.wait_done(index, self.run(index), timeout)

    # -- outputs (DOM and model)

    def output_text(self, index: int) -> str:
        """The visible text of cell ``index``'s output area (widgets included)."""
        return str(self.js("""
            const area = panel.content.widgets[args.index].node.querySelector('.jp-OutputArea');
            return area ? area.innerText : '';
        """, index=index))  # fmt: skip

    def outputs(self, index: int) -> list[dict[str, Any]]:
        """Cell ``index``'s outputs as nbformat dicts (from the model)."""
        return self.js("""
            const m = panel.content.widgets[args.index].model;
            return m.type === 'code' ? m.outputs.toJSON() : [];
        """, index=index)  # fmt: skip

    def has_widget(self, index: int) -> bool:
        """True while cell ``index``'s output shows a rendered ipywidget."""
        return bool(self.js("""
            const area = panel.content.widgets[args.index].node.querySelector('.jp-OutputArea');
            return !!(area && area.querySelector('.jupyter-widgets'));
        """, index=index))  # fmt: skip

    def output_button(self, index: int, text: str) -> Any:
        """The button labelled ``text`` in cell ``index``'s output (a Playwright locator)."""
        return self.cell_locator(index).locator(".jp-OutputArea button", has_text=text)

    def errors(self, index: int) -> list[str]:
        """``ename: evalue`` of each error output of cell ``index``."""
        return [f"{o.get('ename')}: {o.get('evalue')}" for o in self.outputs(index)
                if o.get("output_type") == "error"]

    # -- saving, the file

    def save(self) -> nbformat.NotebookNode:
        """Save (the ``docmanager:save`` command, like Ctrl+S) and read the file back."""
        self.select(0)
        self.command("docmanager:save")
        wait_for(lambda: self.js("return !panel.context.model.dirty;"), 20, what="a clean save")
        return self.read_file()

    def read_file(self) -> nbformat.NotebookNode:
        nb = nbformat.read(self.path, as_version=4)
        nbformat.validate(nb)
        return nb
