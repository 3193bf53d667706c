"""IPython shells for tests of the magics: a fresh InteractiveShell, and the check that a
cell fails with a UsageError (the user sees what is wrong, no traceback).

The ``make_shell`` fixture (conftest.py) wraps ``new_shell`` with a working directory and
IPYTHONDIR in the test's tmp folder, and clears the shell afterwards.
"""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config


def new_shell(config: Config | None = None) -> InteractiveShell:
    """A fresh InteractiveShell (the previous instance cleared) without history."""
    InteractiveShell.clear_instance()
    config = config or Config()
    config.HistoryManager.enabled = False
    return InteractiveShell.instance(config=config)


def usage_error(sh: InteractiveShell, cell: str,
                capsys: pytest.CaptureFixture[str] | None = None, **kwargs: Any) -> str:
    """Run ``cell``; it must fail with a UsageError, and (given ``capsys``) be shown as
    one without a traceback. Returns the message."""
    if capsys is not None:
        capsys.readouterr()
    result = sh.run_cell(cell, **kwargs)
    assert not result.success
    assert isinstance(result.error_in_exec, UsageError), repr(result.error_in_exec)
    message = str(result.error_in_exec)
    if capsys is not None:
        err = capsys.readouterr().err
        assert f"UsageError: {message.splitlines()[0]}" in err
        assert "Traceback" not in err and 'File "' not in err
    return message
