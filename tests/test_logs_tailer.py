"""Following real files while a test writes, renames and truncates them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from backends.logs.sources import FileLineSource
from backends.logs.tailer import FileFollower
from console.core.loglines import LogLine, TimeMerger
from tests.testbed.fixtures import require_service

ROOT = Path(__file__).resolve().parent.parent


def append(path: Path, *lines: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))


def texts(raw: list[bytes]) -> list[str]:
    return [line.decode() for line in raw]


def test_follows_new_lines_only_and_survives_rename_rotation(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, "old 1", "old 2")
    follower = FileFollower(str(log))
    assert follower.read() == []  # starts at the end: old lines are not replayed
    append(log, "new 1", "new 2")
    assert texts(follower.read()) == ["new 1", "new 2"]
    with log.open("a") as handle:
        handle.write("half a li")
    assert follower.read() == []  # an unfinished line waits for its newline
    with log.open("a") as handle:
        handle.write("ne\nlast before rotation\n")
    os.rename(log, tmp_path / "app.log.1")  # logrotate's default: rename, then recreate
    append(tmp_path / "app.log.1", "written late to the old file")
    append(log, "first in new file")
    assert texts(follower.read()) == ["half a line", "last before rotation",
                                      "written late to the old file", "first in new file"]
    assert follower.rotations == 1
    append(log, "second in new file")
    assert texts(follower.read()) == ["second in new file"]
    follower.close()


def test_survives_copytruncate(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    follower = FileFollower(str(log))
    assert follower.read() == []
    append(log, *(f"line {i} with some padding to make it longer" for i in range(50)))
    assert len(follower.read()) == 50
    shutil.copy(log, tmp_path / "app.log.1")
    with log.open("r+") as handle:  # logrotate copytruncate: same inode, emptied
        handle.truncate(0)
    append(log, "after truncate")
    assert texts(follower.read()) == ["after truncate"]
    assert follower.rotations == 1
    follower.close()


def test_waits_for_a_file_that_does_not_exist_yet(tmp_path: Path) -> None:
    log = tmp_path / "later.log"
    follower = FileFollower(str(log))
    assert follower.read() == []
    assert follower.status is not None and "waiting for file" in follower.status
    append(log, "hello", "world")
    assert texts(follower.read()) == ["hello", "world"]  # a new file is read from its start
    assert follower.status is None
    follower.close()


def test_starts_at_the_end_of_a_2_gb_file_without_reading_it(tmp_path: Path) -> None:
    log = tmp_path / "huge.log"
    size = 2 * 1024**3
    with log.open("wb") as handle:
        handle.truncate(size - 20_000)  # sparse: 2 GB on paper, nothing on disk
        handle.seek(size - 20_000)
        handle.write(b"".join(b"tail line %05d\n" % i for i in range(1300)))
    follower = FileFollower(str(log))
    follower.start_with_tail(8192)
    lines = follower.read()
    assert lines[-1] == b"tail line 01299"
    assert all(line.startswith(b"tail line ") for line in lines)  # no half line first
    assert follower.bytes_read < 20_000
    append(log, "one more")
    assert texts(follower.read()) == ["one more"]
    follower.close()


def test_invalid_utf8_and_control_characters_are_escaped(tmp_path: Path) -> None:
    log = tmp_path / "bin.log"
    log.write_bytes(b"")
    source = FileLineSource("bin", str(log), "plain")
    with log.open("ab") as handle:
        handle.write(b"2026-01-02 03:04:05 ERROR bad \xff\xfe bytes \x1b[31m red\n")
    [line] = source.read()
    assert "\\xff\\xfe" in line.text and "\x1b" not in line.text
    assert line.level == "error" and line.ts is not None
    source.close()


def test_unreadable_file_is_said_plainly(tmp_path: Path) -> None:
    log = tmp_path / "secret.log"
    log.write_text("x\n")
    log.chmod(0o600)
    if os.geteuid() != 0:
        follower = FileFollower(str(log))
        follower.read()
        assert follower.status is not None and "permission denied" in follower.status
        return
    if not Path("/usr/bin/python3").exists():
        require_service("/usr/bin/python3", "no system python to run as another user")
    tmp_path.chmod(0o755)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from backends.logs.tailer import FileFollower; "
            "f = FileFollower(sys.argv[2]); f.read(); print(f.status)")
    result = subprocess.run(["/usr/bin/python3", "-c", code, str(ROOT), str(log)],
                            user="nobody", capture_output=True, text=True, timeout=30,
                            cwd="/")
    assert result.returncode == 0, result.stderr
    assert "permission denied: user nobody cannot read" in result.stdout


def test_merger_orders_lines_of_several_sources_by_time() -> None:
    merger = TimeMerger(hold=0.5)
    merger.push([LogLine(100.0, "a1", source="a"), LogLine(102.0, "a2", source="a")], now=103.0)
    merger.push([LogLine(101.0, "b1", source="b"), LogLine(102.8, "b2", source="b")], now=103.0)
    assert [line.text for line in merger.release(now=103.0)] == ["a1", "b1", "a2"]
    assert [line.text for line in merger.release(now=103.4)] == ["b2"]
