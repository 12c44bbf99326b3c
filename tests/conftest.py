"""Shared test helpers: per-test state dirs, config files, and the real-service test bed."""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest_plugins = ["tests.testbed.fixtures"]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _terminal_environment(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Terminal tests of one test process talk to a tmux server of their own, so test
    processes running side by side never share (or resize, or end) each other's sessions;
    and a console started in a tmux window takes that window's size, not the COLUMNS and
    LINES a worker process may have been given."""
    os.environ["TMUX_TMPDIR"] = str(tmp_path_factory.mktemp("tmux"))
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)


def seeded_rng() -> random.Random:
    """A generator with a printed seed (shown when the test fails); OPSCONSOLE_SEED replays it."""
    seed = int(os.environ.get("OPSCONSOLE_SEED") or random.randrange(1 << 30))
    print(f"seed {seed} (replay: OPSCONSOLE_SEED={seed})")
    return random.Random(seed)


@pytest.fixture
def rng() -> random.Random:
    """A seeded generator for randomised tests; the seed is printed."""
    return seeded_rng()


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own audit log, locks and state file."""
    path = tmp_path / "state"
    monkeypatch.setenv("OPSCONSOLE_STATE_DIR", str(path))
    monkeypatch.delenv("OPSCONSOLE_CONFIG", raising=False)
    yield path


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write a config.toml (mode 0600) and return its path."""
    def write(text: str, name: str = "config.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        os.chmod(path, 0o600)
        return path

    return write


@pytest.fixture
def cli_env(state_dir: Path) -> dict[str, str]:
    """Environment for running `opsconsole` as a subprocess in tests."""
    env = dict(os.environ)
    env["OPSCONSOLE_STATE_DIR"] = str(state_dir)
    env["PYTHONPATH"] = str(ROOT)
    env.pop("OPSCONSOLE_CONFIG", None)
    return env


OPSCONSOLE = [sys.executable, "-m", "console.cli"]


@pytest.fixture
def noop_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the test-only `[[noop]]` section (a backend with one mutating action)."""
    from console import registry

    row = registry.KindRow("noop", "tests.support.noop_backend", ("unit",))  # unit:NAME targets
    monkeypatch.setattr(registry, "KINDS", (*registry.KINDS, row))
    monkeypatch.setitem(registry.ROW_BY_SECTION, "noop", row)
