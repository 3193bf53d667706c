"""The kernel's side of the link with the JupyterLab extension (comm target ``text2ml``).

The kernel opens the comm; an extension that is installed answers ``hello``. Cells are
sent as ``insert`` and the extension answers ``inserted`` with what it did. Without an
answer the kernel assumes no extension (classic Notebook, VS Code, Colab, nbclient) and
falls back to ``set_next_input``. Protocol: labextension/src/index.ts.
"""

from __future__ import annotations

import uuid
from typing import Any

TARGET = "text2ml"


class FrontendLink:
    """One comm per kernel; reopened when the front end closed it (no extension then)."""

    def __init__(self) -> None:
        self._comm: Any = None
        self.frontend: dict[str, Any] | None = None  # the extension's hello, once received
        self._replies: dict[str, dict[str, Any]] = {}

    def open(self) -> None:
        """Open the comm unless it is open; harmless outside a kernel (a dummy comm)."""
        if self._comm is not None:
            return
        try:
            from comm import create_comm

            from .. import __version__

            self._comm = create_comm(target_name=TARGET,
                                     data={"type": "hello", "version": __version__})
        except Exception:  # noqa: BLE001 - no kernel, no comm: the fallback applies
            self._comm = None
            return
        self._comm.on_msg(self._on_msg)
        self._comm.on_close(self._on_close)

    @property
    def active(self) -> bool:
        """True once an extension said hello on the open comm."""
        return self._comm is not None and self.frontend is not None

    def _on_msg(self, msg: dict[str, Any]) -> None:
        data = msg.get("content", {}).get("data", {}) or {}
        if data.get("type") == "hello":
            self.frontend = data
        elif data.get("type") == "inserted" and isinstance(data.get("request_id"), str):
            self._replies[data["request_id"]] = data

    def _on_close(self, msg: dict[str, Any]) -> None:
        self._comm = None
        self.frontend = None

    def send_insert(self, *, anchor: str, exec_cell: str | None,
                    cells: list[dict[str, Any]]) -> str:
        """Ask the extension to insert ``cells`` for ``anchor``; returns the request id."""
        request_id = uuid.uuid4().hex
        self._comm.send({"type": "insert", "request_id": request_id, "anchor": anchor,
                         "exec_cell": exec_cell, "cells": cells})
        return request_id

    def reply(self, request_id: str) -> dict[str, Any] | None:
        return self._replies.get(request_id)
