"""`opsconsole init`: write a commented config file from what discovery finds on this machine.

The file goes to --output or the first default path, is never overwritten without --force,
keeps secrets as ${VAR} placeholders, is created with mode 0600 and written atomically
(a temp file renamed into place), and must load back without errors.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

from console import registry
from console.config import DEFAULT_PATHS, parse_config
from console.core.errors import ConfigError
from console.core.files import private_dir


def default_output() -> Path:
    return DEFAULT_PATHS[0].expanduser()


def run_init(output: str | None, force: bool) -> int:
    """Discover, write, verify; exit 0 on success, 2 for a refusal or a write error."""
    from backends.discovery import discover_sync
    from console.config_writer import render

    path = Path(output).expanduser() if output else default_output()
    if path.is_dir():
        print(f"opsconsole: {path} is a directory: give the file name, e.g. "
              f"--output {path / 'config.toml'}", file=sys.stderr)
        return 2
    if path.exists() and not force:
        print(f"opsconsole: {path} already exists: not overwriting it (use --force to "
              f"replace it, or --output PATH)", file=sys.stderr)
        return 2
    report = discover_sync(registry.discovery_probes())
    text = render(report)
    try:
        parse_config(text, path)  # what is written must load
    except ConfigError as exc:
        print(f"opsconsole: the discovered config does not load, nothing written: {exc}",
              file=sys.stderr)
        return 1
    try:
        write_private(path, text)
    except OSError as exc:
        print(f"opsconsole: cannot write {path}: {exc.strerror or exc}; nothing written "
              f"(choose another place with --output PATH)", file=sys.stderr)
        return 2
    for line in report.lines():
        print(f"  {line}")
    print(f"Wrote {path} ({len(report.findings)} discovered entries, mode 0600). "
          f"Open it with: opsconsole --config {path}")
    return 0


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` with mode 0600: to a temp file first, then renamed into place."""
    private_dir(path.parent)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
