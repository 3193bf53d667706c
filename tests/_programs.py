"""Run a generated program as a user would: a fresh, isolated interpreter (no PYTHONPATH,
so not even text2ml_jupyter is importable) with the data under its variable name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd


def run_standalone(code: str, data: pd.DataFrame, folder: Path, *, data_name: str,
                   report: str) -> tuple[Any, list[str]]:
    """Execute ``code`` with ``data`` bound to ``data_name``, then ``report`` (statements
    that see the program's names in ``namespace`` and print one JSON line); returns that
    JSON and every line printed. Fails the test with the interpreter's stderr if the
    program raises."""
    data.to_pickle(folder / "data.pkl")
    (folder / "program.py").write_text(code, encoding="utf-8")
    runner = textwrap.dedent(f"""\
        import json, sys
        import pandas as pd
        namespace = {{{data_name!r}: pd.read_pickle(sys.argv[1])}}
        with open(sys.argv[2], encoding="utf-8") as f:
            exec(compile(f.read(), sys.argv[2], "exec"), namespace)
        """) + textwrap.dedent(report)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-I", "-c", runner, str(folder / "data.pkl"),
                           str(folder / "program.py")], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]), lines
