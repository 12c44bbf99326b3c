"""`q` gives the terminal back at once even when every backend is hung: closes run
concurrently in the background and the exit never waits on a thread stuck connecting."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psutil

from tests.support.faults import listening
from tests.test_terminal import gone, tmux, wait_for
from tests.testbed.fixtures import require_service


def test_q_returns_the_terminal_with_every_backend_hung(
        write_config: Callable[[str], Path], cli_env: dict[str, str], tmp_path: Path) -> None:
    if shutil.which("tmux") is None:
        require_service("tmux", "tmux is not installed (console/sandbox/install.sh installs it)")
    with listening(None) as hung, listening(None, tmp_path / "docker.sock"), \
            listening(None, tmp_path / "bus.sock"):
        url = f"127.0.0.1:{hung.port}"
        config = write_config(
            f"[[http]]\nname = 'api'\nurl = 'http://{url}/'\ntimeout = 30\n"
            f"[[redis]]\nname = 'r'\nurl = 'redis://{url}/0'\ntimeout = 30\n"
            "  [[redis.queues]]\n  name = 'jobs'\n  queue = 'q'\n"
            f"[[celery]]\nname = 'c'\nbroker = 'redis://{url}/1'\ntimeout = 30\n"
            f"[[postgres]]\nname = 'p'\ndsn = 'postgresql://u@{url}/db'\ntimeout = 30\n"
            f"[[docker]]\nhost = 'unix://{tmp_path / 'docker.sock'}'\ncontainers = ['x']\n"
            "timeout = 30\n"
            f"[[systemd]]\nbus = 'unix:path={tmp_path / 'bus.sock'}'\n"
            "units = ['app.service']\ntimeout = 30\n")
        name = f"opsconsole-test-{uuid.uuid4().hex[:8]}"
        subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "40",
                        sys.executable, "-m", "console.cli", "--config", str(config)],
                       env=cli_env, timeout=10, check=True)
        try:
            process = psutil.Process(int(tmux("display-message", "-p", "-t", name,
                                              "#{pane_pid}").strip()))
            wait_for(name, "1 Overview")  # drawn, with every poll stuck on its hung server
            tmux("send-keys", "-t", name, "4")  # keys are answered while all is hung
            wait_for(name, "Celery")
            tmux("send-keys", "-t", name, "1")
            wait_for(name, "Overview")
            started = time.monotonic()
            tmux("send-keys", "-t", name, "q")
            assert gone(process, 10), tmux("capture-pane", "-p", "-t", name)
            # Wide: before, closing one backend after another took 4-5 s here.
            assert time.monotonic() - started < 3
        finally:
            tmux("kill-session", "-t", name)
