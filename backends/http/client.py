"""httpx, imported without its command-line tool.

httpx imports its command-line tool at import time, which pulls in rich, click and pygments
when they are installed (they are, for the TUI): ~150 ms a headless check does not need. A
stand-in keeps httpx's `main` name without the import. Import httpx through this module.
"""

from __future__ import annotations

import sys
import types

if "httpx._main" not in sys.modules:
    _cli_stub = types.ModuleType("httpx._main")
    _cli_stub.main = lambda: None  # type: ignore[attr-defined]
    sys.modules["httpx._main"] = _cli_stub

import httpx

__all__ = ["httpx"]
