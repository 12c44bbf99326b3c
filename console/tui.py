"""The one place the Textual-free runtime starts the TUI: a lazy import, named in the
import contracts as the single allowed upward import."""

from __future__ import annotations

from console.config import Config


def run_tui(config: Config, *, read_only: bool) -> int:
    """Run the full-screen console until the user quits; returns the exit code."""
    from screens.app import run_tui as run_app

    return run_app(config, read_only=read_only)


def preload() -> None:
    """Import the TUI ahead of time (in a thread while discovery waits on sockets)."""
    import contextlib

    with contextlib.suppress(ImportError):
        import screens.app  # noqa: F401
