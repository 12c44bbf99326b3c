"""Writing headless output that survives a reader who stops reading (`check | head -1`).

A closed pipe ends the output quietly: what was not read is dropped, the exit code the
command decided stays, and no traceback reaches the terminal.
"""

from __future__ import annotations

import os
import sys


def emit(text: str) -> None:
    """Print `text` to stdout; a closed pipe silences stdout for the rest of the run."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        silence_stdout()


def silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush cannot fail either."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)
