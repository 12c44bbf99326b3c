"""A unit's journal read from the test machine's journal directory: tail, then follow."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from backends.systemd.journal import JournalLineSource, parse_entry, tail
from console.core.loglines import LogLine
from console.sandbox.systemd_machine import SystemdMachine
from tests.test_systemd_fixtures import UnitFactory, make_unit, prefix

__all__ = ["make_unit", "prefix"]  # fixtures used by name


async def wait_for_lines(unit: str, journal_dir: Path, marker: str,
                         timeout: float = 15) -> list[LogLine]:
    deadline = time.monotonic() + timeout
    while True:
        lines = await tail(unit, journal_dir, 200)
        if any(marker in line.text for line in lines) or time.monotonic() > deadline:
            return lines
        await asyncio.sleep(0.2)


async def test_tail_shows_what_the_unit_just_wrote_with_levels(
        systemd_machine: SystemdMachine, make_unit: UnitFactory, prefix: str) -> None:
    name = make_unit(f"{prefix}-talker.service", (
        "[Service]\nExecStart=/bin/sh -c 'echo hello from " + prefix + "; "
        "echo \"<3>database is gone " + prefix + "\"; "
        "echo \"<4>disk nearly full " + prefix + "\"; sleep infinity'\n"))
    systemd_machine.systemctl("start", name)
    lines = await wait_for_lines(name, systemd_machine.journal_dir, f"disk nearly full {prefix}")
    mine = {line.text: line for line in lines if prefix in line.text}
    assert mine[f"hello from {prefix}"].level == "info"
    assert mine[f"database is gone {prefix}"].is_error
    assert mine[f"disk nearly full {prefix}"].is_warning
    stamp = mine[f"hello from {prefix}"].ts
    assert stamp is not None and abs(stamp - time.time()) < 120
    assert [line.text for line in lines if line.source == "sh"] == [
        f"hello from {prefix}", f"database is gone {prefix}", f"disk nearly full {prefix}"]


async def test_follow_gives_the_last_lines_then_new_ones(
        systemd_machine: SystemdMachine, make_unit: UnitFactory, prefix: str) -> None:
    name = make_unit(f"{prefix}-reloader.service", (
        "[Service]\nExecStart=/bin/sh -c 'echo first " + prefix + "; sleep infinity'\n"
        "ExecReload=/bin/sh -c 'echo reloaded " + prefix + "'\n"))
    systemd_machine.systemctl("start", name)
    await wait_for_lines(name, systemd_machine.journal_dir, f"first {prefix}")
    source = JournalLineSource(name, systemd_machine.journal_dir, lines=200)
    texts: list[str] = []

    async def read_until(marker: str) -> None:
        deadline = time.monotonic() + 15
        while marker not in texts and time.monotonic() < deadline:
            texts.extend(line.text for line in source.read())
            await asyncio.sleep(0.1)

    try:
        await read_until(f"first {prefix}")
        assert f"first {prefix}" in texts  # the tail came first
        assert f"reloaded {prefix}" not in texts
        systemd_machine.systemctl("reload", name)
        await read_until(f"reloaded {prefix}")
        assert source.status is None
    finally:
        source.close()
    assert texts.index(f"first {prefix}") < texts.index(f"reloaded {prefix}")


async def test_tail_of_a_unit_without_lines_is_empty(systemd_machine: SystemdMachine,
                                                     prefix: str) -> None:
    assert await tail(f"{prefix}-never.service", systemd_machine.journal_dir) == []


def test_entries_with_binary_messages_are_escaped_not_dropped() -> None:
    line = parse_entry(b'{"MESSAGE": [104, 105, 0, 255], "PRIORITY": "2", '
                       b'"__REALTIME_TIMESTAMP": "1700000000000000"}')
    assert line is not None
    assert (line.text, line.level, line.ts) == ("hi\\x00\\xff", "crit", 1700000000.0)
    assert parse_entry(b"not json") is None
