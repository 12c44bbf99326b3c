"""The [[docker]] section: what it accepts and the one-line errors for what it does not."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from console.config import load_config
from console.core.errors import ConfigError


def test_design_example_is_accepted(write_config: Callable[[str], Path]) -> None:
    path = write_config('[[docker]]\ncontainers = ["scitt-service"]\n'
                        'backup = { dir = "/opt/backups/scitt", keep = 7 }\n'
                        '[[docker.volumes]]\nname = "scitt-data"\nkeep = 3\nquiesce = "stop"\n')
    entry = load_config(str(path)).sections["docker"][0]
    assert entry.containers == ("scitt-service",)
    assert entry.backup.dir == "/opt/backups/scitt" and entry.backup.keep == 7
    volume = entry.volume("scitt-data")
    assert volume is not None
    assert (volume.backup.dir, volume.backup.keep, volume.backup.quiesce) == (
        "/opt/backups/scitt", 3, "stop")


@pytest.mark.parametrize(("body", "message"), [
    ('host = "localhost:2375"\ncontainers = ["a"]',
     "'host': expected unix:///path/docker.sock or tcp://HOST:PORT, got 'localhost:2375'"),
    ('timeout = 3', "'containers': give container names (globs allowed) or labels"),
    ('containers = ["bad name"]', "'containers': expected container names or globs"),
    ('containers = ["a"]\nbackup = { dir = "relative", keep = 2 }',
     "'dir': expected an absolute path, got 'relative'"),
    ('containers = ["a"]\nbackup = { dir = "/b", keep = 0 }', "'keep': expected a number of at least 1"),
    ('containers = ["a"]\n[[docker.volumes]]\nname = "v"',
     "'dir': is required here or in the section's backup"),
    ('containers = ["a"]\nrestart = "always"', "'restart': unknown key"),
])
def test_bad_config_gives_one_line_errors(write_config: Callable[[str], Path], body: str,
                                          message: str) -> None:
    path = write_config(f"[[docker]]\n{body}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    text = str(caught.value)
    assert message in text, text
    assert "\n" not in text
    assert text.startswith("config.toml: ")
