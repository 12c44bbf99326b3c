"""The console in a real terminal (tmux): it draws in 16 and 256 colours and leaves with it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from tests.support.http_server import health_server
from tests.testbed.fixtures import require_service


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=10,
                          check=False).stdout


@pytest.fixture
def session(write_config: Callable[[str], Path], cli_env: dict[str, str]) -> Iterator[
        Callable[[str, int, int], tuple[str, psutil.Process]]]:
    if shutil.which("tmux") is None:
        require_service("tmux", "tmux is not installed (console/sandbox/install.sh installs it)")
    names: list[str] = []
    with health_server() as url:
        # Enough rows that the screen has a lot to draw when the terminal disappears.
        config = write_config(f"[[http]]\nname = 'api'\nurl = '{url}/ok'\n" + "".join(
            f"[[http]]\nname = 'e{i}'\nurl = '{url}/ok?{i}'\ninterval = 1\n" for i in range(60)))

        def start(term: str, width: int, height: int) -> tuple[str, psutil.Process]:
            name = f"opsconsole-test-{uuid.uuid4().hex[:8]}"
            names.append(name)
            env = dict(cli_env, TERM=term)
            subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", str(width), "-y",
                            str(height), sys.executable, "-m", "console.cli", "--config",
                            str(config)], env=env, timeout=10, check=True)
            pid = int(tmux("display-message", "-p", "-t", name, "#{pane_pid}").strip())
            return name, psutil.Process(pid)

        yield start
    for name in names:
        tmux("kill-session", "-t", name)


def screen_text(name: str) -> str:
    return tmux("capture-pane", "-p", "-t", name)


def gone(process: psutil.Process, seconds: float = 10) -> bool:
    """Whether the process ended (a zombie waiting for tmux to reap it counts as ended)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def wait_for(name: str, text: str, seconds: float = 60) -> str:
    """The screen once `text` is on it (a loaded machine may take long to start the app)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        shown = screen_text(name)
        if text in shown:
            return shown
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not on screen:\n{screen_text(name)}")


@pytest.mark.parametrize(("term", "size"), [("linux", (80, 24)), ("xterm-256color", (200, 60))])
def test_draws_the_overview_in_a_real_terminal(session: Callable[..., tuple[str, psutil.Process]],
                                               term: str, size: tuple[int, int]) -> None:
    name, _ = session(term, *size)
    shown = wait_for(name, "http:api")
    assert "200 in" in shown
    assert "q quit" in shown
    lines = shown.splitlines()
    assert lines[0].lstrip().startswith("opsconsole")
    assert all(len(line) <= size[0] for line in lines)


def test_leaves_when_its_terminal_goes_away(session: Callable[..., tuple[str, psutil.Process]]
                                            ) -> None:
    name, process = session("xterm-256color", 120, 40)
    wait_for(name, "http:api")
    tmux("kill-session", "-t", name)  # the pane's terminal closes, as when SSH drops
    if not gone(process):
        process.kill()
        pytest.fail("opsconsole kept running after its terminal went away")


def test_q_quits_cleanly(session: Callable[..., tuple[str, psutil.Process]]) -> None:
    name, process = session("xterm-256color", 120, 40)
    wait_for(name, "http:api")
    tmux("send-keys", "-t", name, "q")
    assert gone(process)
