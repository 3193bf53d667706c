"""The JupyterLab extension: built into the install, enabled, and its logic unit-tested.

The end-to-end check (real JupyterLab, real Chromium) is tests/browser; these are the
fast ones: the TypeScript planning and digest tests (`jlpm test`, Node's test runner) and
the install as a user sees it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from text2ml_jupyter import __version__
from text2ml_jupyter.notebook.writeback import digest

REPO = Path(__file__).resolve().parent.parent
LABEXT = REPO / "labextension"
BIN = Path(sys.executable).parent


def test_the_built_extension_is_installed_and_enabled() -> None:
    out = subprocess.run([str(BIN / "jupyter"), "labextension", "list"], capture_output=True,
                         text=True, check=True)
    text = out.stdout + out.stderr
    line = next((line for line in text.splitlines() if "text2ml-jupyter" in line), "")
    assert f"text2ml-jupyter v{__version__}" in line, text
    assert "enabled" in line and "OK" in line, line
    installed = Path(sys.prefix) / "share/jupyter/labextensions/text2ml-jupyter"
    assert json.loads((installed / "package.json").read_text())["version"] == __version__
    assert json.loads((installed / "install.json").read_text())["packageName"] == \
        "text2ml-jupyter"


@pytest.mark.skipif(not (LABEXT / "node_modules").is_dir() or shutil.which("node") is None,
                    reason="labextension/node_modules is made by `pip install -e .` "
                           "(needs Node.js)")
def test_typescript_unit_tests_pass() -> None:
    """insert.ts (which cells to delete, where to insert) and digest.ts, under node --test."""
    out = subprocess.run([str(BIN / "jlpm"), "test"], cwd=LABEXT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "# fail 0" in out.stdout and "# pass " in out.stdout, out.stdout[-2000:]


def test_python_and_typescript_digests_agree() -> None:
    """The kernel and the extension must compute the same digest, or every generated
    cell would look edited. The vectors are the ones labextension/test/digest.test.ts uses."""
    source = (LABEXT / "test" / "digest.test.ts").read_text(encoding="utf-8")
    for text, expected in (("", "811c9dc5"), ("a", "e40c292c"), ("foobar", "bf9cf968")):
        assert digest(text) == expected
        assert expected in source
    compiled = LABEXT / "node_modules/.cache/text2ml-test/src/digest.js"  # from `jlpm test`
    if compiled.is_file() and shutil.which("node"):
        text = 'print("héllo 🌍")\n# ✓'
        out = subprocess.run(["node", "-e", f"console.log(require({str(compiled)!r})"
                              f".digest({json.dumps(text)}))"], capture_output=True,
                             text=True, check=True)
        assert out.stdout.strip() == digest(text)
