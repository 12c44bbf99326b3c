"""opsconsole's core: config, CLI, polling, checks, actions, audit, headless runner and TUI app."""

__version__ = "0.1.0"
