"""The console in a real terminal (tmux): time to first full paint and idle CPU.

Runs `opsconsole` with 200 HTTP endpoints in a 160x48 tmux pane, waits until every endpoint
shows on the overview, then samples the process's CPU for 30 s. A bare Textual app is measured
the same way in the same run, and the ratio printed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.support import delayed_server, endpoints_config

IDLE_SECONDS = 30
BARE_APP = """
from textual.app import App
from textual.widgets import Footer, Header, Static
class Bare(App):
    def compose(self):
        yield Header()
        yield Static("bare")
        yield Footer()
Bare().run()
"""


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=10,
                          check=False).stdout


def start(session: str, argv: list[str], env: dict[str, str]) -> psutil.Process:
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "48",
                    *argv], env=env, timeout=10, check=True)
    pid = int(tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip())
    return psutil.Process(pid)


def wait_for_text(session: str, text: str, limit: float = 60) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if text in tmux("capture-pane", "-p", "-t", session):
            return time.monotonic() - started
        time.sleep(0.02)
    raise SystemExit(f"{text!r} never appeared:\n{tmux('capture-pane', '-p', '-t', session)}")


def wait_for_checks(session: str, count: int, limit: float = 60) -> float:
    """Until the top bar's counts (ok, warn, crit, unknown) add up to `count`."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        top = tmux("capture-pane", "-p", "-t", session).split("\n", 1)[0]
        shown = sum(int(n) for n in re.findall(r"(\d+) (?:ok|warn|crit|unkn)\b", top))
        if shown >= count:
            return time.monotonic() - started
        time.sleep(0.02)
    raise SystemExit(f"{count} checks never showed:\n{tmux('capture-pane', '-p', '-t', session)}")


def idle_cpu(process: psutil.Process, seconds: float) -> float:
    before = process.cpu_times()
    time.sleep(seconds)
    after = process.cpu_times()
    return 100 * ((after.user - before.user) + (after.system - before.system)) / seconds


def main() -> None:
    if not shutil.which("tmux"):
        raise SystemExit("tmux is needed: apt-get install tmux")
    workdir = Path(tempfile.mkdtemp(prefix="opsconsole-bench-"))
    env = dict(os.environ, OPSCONSOLE_STATE_DIR=str(workdir / "state"), TERM="xterm-256color")
    results: dict[str, tuple[float, float]] = {}
    with delayed_server(0.05) as base:
        for interval in ("10s", "5m"):
            config = endpoints_config(workdir / f"tui-{interval}.toml", base, 200, interval)
            session = f"bench-tui-{os.getpid()}-{interval}"
            process = start(session, [sys.executable, "-m", "console.cli", "--config",
                                      str(config)], env)
            try:
                paint = wait_for_checks(session, 200)
                time.sleep(2)
                results[interval] = (paint, idle_cpu(process, IDLE_SECONDS))
            finally:
                tmux("kill-session", "-t", session)
    bare_file = workdir / "bare.py"
    bare_file.write_text(BARE_APP)
    session = f"bench-bare-{os.getpid()}"
    bare = start(session, [sys.executable, str(bare_file)], env)
    try:
        wait_for_text(session, "bare")
        time.sleep(2)
        theirs = idle_cpu(bare, IDLE_SECONDS)
    finally:
        tmux("kill-session", "-t", session)
    print(f"bare Textual app (Header, Static, Footer): {theirs:.2f} % of a core")
    for interval, (paint, ours) in results.items():
        print(f"200 endpoints polled every {interval}: first full paint {paint:.2f} s, "
              f"CPU over {IDLE_SECONDS} s {ours:.2f} % of a core "
              f"({ours / max(theirs, 0.01):.1f}x the bare app)")


if __name__ == "__main__":
    main()
