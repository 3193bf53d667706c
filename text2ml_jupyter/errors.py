"""The project's own exceptions: each says what is wrong and how to fix it."""

from __future__ import annotations


class Text2MLError(ValueError):
    """A problem with the task, the data or the options, explained for the user.

    The message is complete on its own (what is wrong, then how to fix it), so callers
    show it as is, without a traceback from deep inside the engine.
    """

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(problem if not fix else f"{problem}\nHow to fix: {fix}")


class CandidateError(Exception):
    """A candidate failed its contract or its contextual test; the message is the short reason."""
