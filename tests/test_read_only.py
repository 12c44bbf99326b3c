"""Read-only is honoured on every entry path: the config's `read_only = true` or `--read-only`
reaches the TUI started from the command line, every headless action, silences and
maintenance windows; what only reads still runs. Nothing is written when it refuses."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from console.cli import main
from console.config import load_config
from console.core.actions import ActionOutcome, ActionSpec, Progress
from console.core.audit import AuditLog
from console.session import Session
from console.silences import Silences
from tests.support.faults import listening
from tests.test_terminal import tmux, wait_for
from tests.testbed.fixtures import require_service

WriteConfig = Callable[[str], Path]


def _config(write_config: WriteConfig, journal: Path, read_only: bool) -> str:
    name = "locked.toml" if read_only else "open.toml"
    return str(write_config(f"[console]\nread_only = {str(read_only).lower()}\n"
                            f"[[noop]]\nname = 'demo'\njournal = '{journal}'\n", name))


@pytest.mark.parametrize(("in_config", "flag", "expected"), [
    (True, False, "READ-ONLY"), (False, True, "READ-ONLY"), (False, False, "READ-WRITE")])
def test_the_tui_from_the_command_line_shows_and_keeps_read_only(
        write_config: WriteConfig, cli_env: dict[str, str], in_config: bool, flag: bool,
        expected: str) -> None:
    if shutil.which("tmux") is None:
        require_service("tmux", "tmux is not installed (console/sandbox/install.sh installs it)")
    with listening(None) as hung:
        config = write_config(f"[console]\nread_only = {str(in_config).lower()}\n"
                              f"[[http]]\nname = 'api'\nurl = 'http://127.0.0.1:{hung.port}/'\n")
        name = f"opsconsole-test-{uuid.uuid4().hex[:8]}"
        argv = [sys.executable, "-m", "console.cli", "--config", str(config),
                *(["--read-only"] if flag else [])]
        subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "30", *argv],
                       env=cli_env, timeout=10, check=True)
        try:
            shown = wait_for(name, "1 Overview")
            shown = wait_for(name, expected)
            other = "READ-WRITE" if expected == "READ-ONLY" else "READ-ONLY"
            assert other not in shown
        finally:
            tmux("kill-session", "-t", name)


@pytest.mark.usefixtures("noop_kind")
def test_session_takes_read_only_from_either_side(write_config: WriteConfig,
                                                  tmp_path: Path) -> None:
    locked = load_config(_config(write_config, tmp_path / "j", True))
    open_ = load_config(_config(write_config, tmp_path / "j", False))
    assert Session(locked, backends=[]).read_only is True
    assert Session(locked, read_only=False, backends=[]).dispatcher.read_only is True
    assert Session(open_, read_only=True, backends=[]).dispatcher.read_only is True
    assert Session(open_, backends=[]).dispatcher.read_only is False


def _spec(marker: Path, mutating: bool) -> ActionSpec:
    async def run(progress: Progress) -> ActionOutcome:
        marker.write_text("ran")
        return ActionOutcome(True, "done")

    return ActionSpec(verb="retry" if mutating else "peek", target="queue:r/jobs",
                      title="Do it", effect="changes it", run=run, mutating=mutating)


async def _yes(spec: ActionSpec) -> bool:
    return True


@pytest.mark.usefixtures("noop_kind")
async def test_read_only_refuses_what_changes_and_runs_what_only_reads(
        write_config: WriteConfig, tmp_path: Path, state_dir: Path) -> None:
    session = Session(load_config(_config(write_config, tmp_path / "j", True)), backends=[])
    changed, read = tmp_path / "changed", tmp_path / "read"
    refused = await session.dispatcher.run(_spec(changed, True), _yes)
    assert refused.state == "refused" and not changed.exists()
    assert refused.message == "read-only mode: 'retry' changes queue:r/jobs and is disabled"
    looked = await session.dispatcher.run(_spec(read, False), _yes)
    assert looked.state == "ok" and read.read_text() == "ran"
    assert [r.phase for r in AuditLog(state_dir).records()] == ["refused"]
    # an action that cannot run here is refused with its own reason, read-only or not
    writable = Session(load_config(_config(write_config, tmp_path / "j", False)), backends=[])
    spec = _spec(changed, False)
    blocked = await writable.dispatcher.run(
        dataclasses.replace(spec, unavailable="no failed key is configured for jobs"), _yes)
    assert (blocked.state, blocked.message) == ("refused", "no failed key is configured for jobs")
    assert not changed.exists()


@pytest.mark.usefixtures("noop_kind")
@pytest.mark.parametrize("in_config", [True, False])
def test_every_headless_change_is_refused_when_read_only(
        write_config: WriteConfig, tmp_path: Path, state_dir: Path, in_config: bool,
        capsys: pytest.CaptureFixture[str]) -> None:
    journal = tmp_path / "journal"
    config = _config(write_config, journal, in_config)
    flag = [] if in_config else ["--read-only"]
    commands = [
        ["restart", "unit:demo", "--yes"],
        ["silence", "unit:demo", "--for", "1h", "--reason", "deploy"],
        ["maintenance", "start", "unit:demo", "--for", "1h", "--reason", "deploy", "--yes"],
    ]
    for command in commands:
        assert main(["--headless", *command, "--config", config, *flag]) == 3, command
        assert "read-only mode" in capsys.readouterr().err, command
    assert not journal.exists()
    assert Silences(state_dir).active() == []
    # unsilencing changes state too: refused, and an existing silence stays
    writable = _config(write_config, journal, False)
    assert main(["--headless", "silence", "unit:demo", "--for", "1h", "--reason", "x",
                 "--config", writable]) == 0
    assert main(["--headless", "unsilence", "unit:demo", "--config", config, *flag]) == 3
    assert [s.pattern for s in Silences(state_dir).active()] == ["unit:demo"]
    # reading is allowed
    capsys.readouterr()
    assert main(["--headless", "silences", "--config", config, *flag]) == 0
    assert "unit:demo" in capsys.readouterr().out
