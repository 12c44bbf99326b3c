"""The action path: read-only gate, confirmation, cross-process lock, audit chain, headless exits."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from console.cli import main
from console.core.actions import ActionOutcome, ActionSpec, Progress
from console.core.audit import AuditLog
from console.core.identity import Identity
from console.core.secrets import Redactor
from console.dispatcher import Dispatcher

WHO = Identity(user="alice", tty="pts/3", client="10.0.0.7")


def make_spec(marker: Path, *, seconds: float = 0.0, verb: str = "restart",
              target: str = "unit:demo.service", type_to_confirm: str | None = None,
              params: dict[str, str] | None = None) -> ActionSpec:
    async def run(progress: Progress) -> ActionOutcome:
        progress.progress(1, 2, "half way")
        progress.log("working")
        await asyncio.sleep(seconds)
        with marker.open("a") as out:
            out.write("ran\n")
        return ActionOutcome(True, "demo.service restarted")

    return ActionSpec(verb=verb, target=target, title="Restart demo.service",
                      effect="stop and start demo.service", run=run,
                      type_to_confirm=type_to_confirm, params=params or {})


async def yes(spec: ActionSpec) -> bool:
    return True


async def no(spec: ActionSpec) -> bool:
    return False


def dispatcher(state_dir: Path, *, read_only: bool = False,
               redactor: Redactor | None = None) -> Dispatcher:
    return Dispatcher(state_dir=state_dir, read_only=read_only,
                      redactor=redactor or Redactor(), identity=WHO)


async def test_read_only_refuses_and_nothing_runs(tmp_path: Path, state_dir: Path) -> None:
    marker = tmp_path / "marker"
    run = await dispatcher(state_dir, read_only=True).run(make_spec(marker), yes)
    assert run.state == "refused"
    assert run.outcome is not None and "read-only mode" in run.outcome.message
    assert not marker.exists()
    assert [r.phase for r in AuditLog(state_dir).records()] == ["refused"]


async def test_not_confirmed_refuses(tmp_path: Path, state_dir: Path) -> None:
    marker = tmp_path / "marker"
    run = await dispatcher(state_dir).run(make_spec(marker), no)
    assert run.state == "refused"
    assert run.outcome is not None and run.outcome.message == "Restart demo.service: not confirmed"
    assert not marker.exists()


async def test_confirmed_action_runs_and_is_audited(tmp_path: Path, state_dir: Path) -> None:
    marker = tmp_path / "marker"
    redactor = Redactor()
    redactor.add("pa55word")
    spec = make_spec(marker, params={"dsn": "postgresql://u:pa55word@h/db"})
    run = await dispatcher(state_dir, redactor=redactor).run(spec, yes)
    assert run.state == "ok"
    assert marker.read_text() == "ran\n"
    assert list(run.lines) == ["working"]
    records = AuditLog(state_dir).records()
    assert [(r.phase, r.who, r.client, r.verb, r.target) for r in records] == [
        ("started", "alice", "10.0.0.7", "restart", "unit:demo.service"),
        ("finished", "alice", "10.0.0.7", "restart", "unit:demo.service")]
    assert records[1].duration is not None and records[1].outcome == "demo.service restarted"
    assert records[0].action_id == records[1].action_id
    assert "pa55word" not in records[0].params and "***" in records[0].params
    assert AuditLog(state_dir).verify().ok


async def test_failure_is_recorded_with_its_error(state_dir: Path) -> None:
    async def broken(progress: Progress) -> ActionOutcome:
        raise RuntimeError("unit demo.service not found")

    spec = ActionSpec(verb="restart", target="unit:demo.service", title="Restart demo.service",
                      effect="stop and start", run=broken)
    run = await dispatcher(state_dir).run(spec, yes)
    assert run.state == "failed"
    assert run.outcome is not None
    assert run.outcome.message == "Restart demo.service failed: unit demo.service not found"
    last = AuditLog(state_dir).records()[-1]
    assert last.phase == "failed" and "not found" in last.error


async def test_second_run_on_same_target_in_another_process_is_refused(
        tmp_path: Path, state_dir: Path) -> None:
    started = tmp_path / "started"
    holder = textwrap.dedent(f"""
        import asyncio, pathlib
        from console.core.actions import ActionOutcome, ActionSpec
        from console.dispatcher import Dispatcher
        from console.core.identity import Identity
        from console.core.secrets import Redactor

        async def slow(progress):
            pathlib.Path({str(started)!r}).write_text("x")
            await asyncio.sleep(6)
            return ActionOutcome(True, "done")

        async def yes(spec):
            return True

        spec = ActionSpec(verb="restart", target="unit:demo.service", title="Restart",
                          effect="e", run=slow)
        d = Dispatcher(state_dir=pathlib.Path({str(state_dir)!r}), read_only=False,
                       redactor=Redactor(), identity=Identity("bob", "pts/9", ""))
        asyncio.run(d.run(spec, yes))
    """)
    other = subprocess.Popen([sys.executable, "-c", holder])
    try:
        deadline = time.monotonic() + 20
        while not started.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert started.exists()
        marker = tmp_path / "marker"
        run = await dispatcher(state_dir).run(make_spec(marker, verb="stop"), yes)
        assert run.state == "refused"
        assert run.outcome is not None
        assert "unit:demo.service is locked by bob@pts/9 since" in run.outcome.message
        assert "(restart, pid" in run.outcome.message
        assert not marker.exists()
    finally:
        other.wait(timeout=30)
    # Once the holder has finished, the target is free again.
    run = await dispatcher(state_dir).run(make_spec(tmp_path / "m2"), yes)
    assert run.state == "ok"


async def test_a_killed_holder_does_not_leave_a_stale_lock(tmp_path: Path, state_dir: Path) -> None:
    script = textwrap.dedent(f"""
        import pathlib, sys
        from console.core.identity import Identity
        from console.core.locks import TargetLock
        lock = TargetLock(pathlib.Path({str(state_dir / 'locks')!r}), "unit:demo.service",
                          Identity("bob", "pts/9", ""), "restart")
        lock.acquire()
        print("held", flush=True)
        sys.stdin.read()  # holds the lock until killed
    """)
    holder = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait(10)
    run = await dispatcher(state_dir).run(make_spec(tmp_path / "m"), yes)
    assert run.state == "ok"


async def test_tampered_record_breaks_the_chain(tmp_path: Path, state_dir: Path) -> None:
    for _ in range(3):
        await dispatcher(state_dir).run(make_spec(tmp_path / "m"), yes)
    log = AuditLog(state_dir)
    assert log.verify().ok and log.verify().records == 6
    with sqlite3.connect(state_dir / "state.db") as db:
        db.execute("UPDATE audit SET who = 'mallory' WHERE id = 3")
    verdict = log.verify()
    assert not verdict.ok
    assert verdict.message == "record 3 was altered after it was written"


async def test_deleted_record_breaks_the_chain(tmp_path: Path, state_dir: Path) -> None:
    for _ in range(2):
        await dispatcher(state_dir).run(make_spec(tmp_path / "m"), yes)
    with sqlite3.connect(state_dir / "state.db") as db:
        db.execute("DELETE FROM audit WHERE id = 2")
    assert AuditLog(state_dir).verify().message == "chain broken before record 3: a record was removed"


def noop_config(write_config: Callable[[str], Path], journal: Path, name: str = "demo",
                read_only: bool = False) -> str:
    return str(write_config(f"[console]\nread_only = {str(read_only).lower()}\n"
                            f"[[noop]]\nname = '{name}'\njournal = '{journal}'\n"))


@pytest.mark.usefixtures("noop_kind")
def test_headless_action_exit_codes(tmp_path: Path, write_config: Callable[[str], Path],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    journal = tmp_path / "journal"
    config = noop_config(write_config, journal)
    assert main(["--headless", "restart", "unit:demo", "--config", config, "--yes"]) == 0
    assert journal.read_text() == "restarted\n"
    assert "demo restarted" in capsys.readouterr().out
    # No terminal and no --yes: refused (3), nothing done.
    assert main(["--headless", "restart", "unit:demo", "--config", config]) == 3
    assert "pass --yes" in capsys.readouterr().err
    # --read-only refuses even with --yes.
    assert main(["--headless", "restart", "unit:demo", "--config", config, "--yes",
                 "--read-only"]) == 3
    assert "read-only mode" in capsys.readouterr().err
    assert journal.read_text() == "restarted\n"
    # An unknown target is a usage error (2) that says what to do.
    assert main(["--headless", "restart", "unit:other", "--config", config, "--yes"]) == 2
    assert "unit:other is not in" in capsys.readouterr().err
    # A verb the target does not offer is a usage error too.
    assert main(["--headless", "backup", "unit:demo", "--config", config, "--yes"]) == 2
    assert "has no 'backup' action (it offers: restart)" in capsys.readouterr().err


@pytest.mark.usefixtures("noop_kind")
def test_read_only_from_config(tmp_path: Path, write_config: Callable[[str], Path]) -> None:
    config = noop_config(write_config, tmp_path / "j", read_only=True)
    assert main(["--headless", "restart", "unit:demo", "--config", config, "--yes"]) == 3


@pytest.mark.usefixtures("noop_kind")
def test_headless_audit_prints_records_and_verifies(tmp_path: Path, state_dir: Path,
                                                    write_config: Callable[[str], Path],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    config = noop_config(write_config, tmp_path / "j")
    main(["--headless", "restart", "unit:demo", "--config", config, "--yes"])
    capsys.readouterr()
    assert main(["--headless", "audit", "--config", config, "--since", "1h"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "started" in out[0] and "restart unit:demo" in out[0]
    assert "finished" in out[1] and "- demo restarted" in out[1]
    assert out[-1] == "OK: chain verifies (2 records)"
    with sqlite3.connect(state_dir / "state.db") as db:
        db.execute("UPDATE audit SET outcome = 'nothing happened' WHERE id = 2")
    assert main(["--headless", "audit", "--config", config]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "BROKEN: record 2 was altered after it was written"


@pytest.mark.usefixtures("noop_kind")
def test_headless_prompt_on_a_terminal(tmp_path: Path, write_config: Callable[[str], Path]) -> None:
    from console.headless_actions import terminal_confirmer

    spec = make_spec(tmp_path / "m", type_to_confirm="ujmp")
    typed_wrong = terminal_confirmer(False, ask=lambda prompt: "ujm", interactive=True)
    typed_right = terminal_confirmer(False, ask=lambda prompt: "ujmp", interactive=True)
    assert asyncio.run(typed_wrong(spec)) is False
    assert asyncio.run(typed_right(spec)) is True
