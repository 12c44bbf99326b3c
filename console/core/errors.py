"""Exceptions that carry a one-line message meant for the user."""

from __future__ import annotations


class ConsoleError(Exception):
    """An error whose message is shown as it is: one line saying what to fix."""


class ConfigError(ConsoleError):
    """The config file is missing, malformed or holds a wrong value."""


class ActionRefused(ConsoleError):
    """An action was not started: read-only, not confirmed, or locked by another run."""


class ActionFailed(ConsoleError):
    """An action started but did not reach its goal: the one way an action reports failure.

    `details` holds what explains it beyond the one line (the last journal lines, say).
    """

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


def one_line(exc: BaseException, timeout: float | None = None, limit: int = 300) -> str:
    """An exception as one line for a person: its first line, capped, else its type's name.

    A timeout reads "no answer within Ns" when the caller knows its limit.
    """
    if isinstance(exc, TimeoutError) and timeout is not None:
        return f"no answer within {timeout:g}s"
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return first[:limit] or type(exc).__name__
