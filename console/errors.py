"""Exceptions that carry a one-line message meant for the user."""

from __future__ import annotations


class ConsoleError(Exception):
    """An error whose message is shown as it is: one line saying what to fix."""


class ConfigError(ConsoleError):
    """The config file is missing, malformed or holds a wrong value."""


class ActionRefused(ConsoleError):
    """An action was not started: read-only, not confirmed, or locked by another run."""


class ActionFailed(ConsoleError):
    """An action started but did not reach its goal."""
