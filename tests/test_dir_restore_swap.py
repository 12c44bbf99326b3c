"""A directory restore replaces every path or none: all paths are unpacked beside their
destinations first, then swapped; a swap that fails puts back what was already swapped, a
restore stopped dead at any rename is undone by the next one, and content of unknown origin
left aside is never overwritten. Real files, direct calls."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
from pathlib import Path

import pytest

from backends.dirbackup import DirBackupBackend, archive
from backends.dirbackup.config import DirBackupConfig
from backends.dirbackup.restore import (
    DONE,
    NEW,
    OLD,
    RECORD,
    interrupted,
    restore,
    undo_interrupted,
)
from console.core.model import Status

PATHS = ("alpha", "beta", "gamma")


def _setup(tmp_path: Path) -> tuple[DirBackupConfig, archive.BackupFile]:
    app = tmp_path / "app"
    for name in PATHS:
        (app / name / "sub").mkdir(parents=True)
        (app / name / "sub" / "file.txt").write_text(f"{name} v1\n")
    config = DirBackupConfig(name="app", paths=tuple(str(app / n) for n in PATHS), excludes=(),
                             dir=str(tmp_path / "backups"), keep=3, keep_days=None, before=(),
                             after=(), max_age=None, command_timeout=60.0, interval=60.0)
    (app / "alpha").chmod(0o750)  # a directory's own mode comes back too
    backup = archive.write_backup(config, lambda line: None, timeout=60)
    (app / "alpha").chmod(0o755)
    for name in PATHS:
        (app / name / "sub" / "file.txt").write_text(f"{name} v2\n")
        (app / name / "added.txt").write_text("new since the backup\n")
    return config, backup


def _state(app: Path) -> dict[str, str]:
    return {str(p.relative_to(app)): p.read_text() for p in sorted(app.rglob("*")) if p.is_file()}


def test_every_path_comes_back_and_nothing_is_left_beside_them(tmp_path: Path) -> None:
    config, backup = _setup(tmp_path)
    lines: list[str] = []
    written = restore(config, backup, None, lines.append)
    app = tmp_path / "app"
    assert written == [str(app / n) for n in PATHS]
    assert _state(app) == {f"{n}/sub/file.txt": f"{n} v1\n" for n in PATHS}
    assert sorted(p.name for p in app.iterdir()) == sorted(PATHS)  # no .new, no .old
    assert stat.S_IMODE((app / "alpha").stat().st_mode) == 0o750
    assert lines[0] == f"verifying {backup.name}"
    assert lines[-3:] == [f"restored {app / n} (its previous content was replaced)"
                          for n in PATHS]


def test_restore_elsewhere_leaves_the_originals(tmp_path: Path) -> None:
    config, backup = _setup(tmp_path)
    app, other = tmp_path / "app", tmp_path / "other"
    before = _state(app)
    lines: list[str] = []
    stages: list[int] = []

    def log(line: str) -> None:
        lines.append(line)
        if line.startswith("unpacking"):  # the private stage beside the destination exists
            dest = Path(line.rsplit(" beside ", 1)[1])
            stages.append(stat.S_IMODE((dest.parent / f".{dest.name}{NEW}").stat().st_mode))

    written = restore(config, backup, str(other), log)
    assert stages == [0o700] * 3
    inner = other / str(app).lstrip("/")
    created = [p for p in inner.parents if p == other or other in p.parents]
    assert len(created) == len(app.parts) - 1  # `other` and each directory down to `app`'s
    assert {stat.S_IMODE(p.stat().st_mode) for p in created} == {0o700}  # made private
    assert _state(app) == before
    assert written == [str(inner / n) for n in PATHS]
    assert _state(inner) == {f"{n}/sub/file.txt": f"{n} v1\n" for n in PATHS}
    assert lines[-1] == f"restored {inner / 'gamma'}"


def test_a_failed_swap_puts_back_what_was_already_swapped(tmp_path: Path) -> None:
    config, backup = _setup(tmp_path)
    app = tmp_path / "app"
    before = _state(app)

    def sabotage(line: str) -> None:
        # the last path is being unpacked: beta's unpacked copy disappears, so beta's swap
        # fails after alpha's succeeded
        if line.startswith("unpacking") and line.endswith(str(app / "gamma")):
            shutil.rmtree(app / f".beta{NEW}" / str(app / "beta").lstrip("/"))

    with pytest.raises(archive.BackupError, match="nothing was replaced that was not put back"):
        restore(config, backup, None, sabotage)
    assert _state(app) == before
    assert interrupted(config) == []  # put back already: nothing for check to report
    assert sorted(p.name for p in app.iterdir()) == sorted(PATHS)


def test_an_interrupted_earlier_restore_is_not_overwritten(tmp_path: Path) -> None:
    config, backup = _setup(tmp_path)
    app = tmp_path / "app"
    kept = app / f".gamma{OLD}"
    kept.mkdir()
    (kept / "precious.txt").write_text("the content before the interrupted restore\n")
    before = _state(app)
    stale = app / f".alpha{NEW}"
    stale.write_text("left by a run that failed while unpacking\n")
    with pytest.raises(archive.BackupError, match=r"an earlier restore was interrupted: the "
                                                  r"previous content of .*gamma is in"):
        restore(config, backup, None, lambda line: None)
    assert _state(app) == before and not stale.exists()
    assert sorted(p.name for p in app.iterdir()) == sorted([*PATHS, kept.name])


def test_an_archive_holding_none_of_the_paths_is_refused(tmp_path: Path) -> None:
    config, backup = _setup(tmp_path)
    other = DirBackupConfig(**{**config.__dict__, "paths": ("/srv/elsewhere",)})
    with pytest.raises(archive.BackupError, match=r"holds none of /srv/elsewhere"):
        restore(other, backup, None, lambda line: None)
    Path(backup.path + ".sha256").unlink()
    listed = archive.list_backups(config)[0]
    with pytest.raises(archive.BackupError, match="it was never verified"):
        restore(config, listed, None, lambda line: None)
    assert _state(tmp_path / "app")["alpha/sub/file.txt"] == "alpha v2\n"


class _Killed(BaseException):
    """Stands for SIGKILL: nothing that catches errors runs."""


@pytest.mark.parametrize("missing", ["", "gamma"])
def test_a_restore_stopped_at_any_rename_is_all_old_or_all_new_then_completed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    """`missing`: a path that is not there when the restore starts (the restore brings it)."""
    real_rename = os.rename
    stopped_at = 0
    while True:
        stopped_at += 1
        case = tmp_path / str(stopped_at)
        case.mkdir()
        config, backup = _setup(case)
        app = case / "app"
        if missing:
            shutil.rmtree(app / missing)
        before = _state(app)
        after = {f"{n}/sub/file.txt": f"{n} v1\n" for n in PATHS}
        calls = 0

        def rename(source: str | Path, target: str | Path, stop: int = stopped_at) -> None:
            nonlocal calls
            calls += 1
            if calls == stop:
                raise _Killed
            real_rename(source, target)

        monkeypatch.setattr(os, "rename", rename)
        try:
            restore(config, backup, None, lambda line: None)
        except _Killed:
            pass
        else:
            break  # past the last rename: nothing left to stop
        finally:
            monkeypatch.setattr(os, "rename", real_rename)
        lines: list[str] = []
        brought = bool(missing) and (app / missing).exists()
        undo_interrupted(config, lines.append)
        if brought:
            assert f"removed {app / missing}, put there by an interrupted restore" in lines
        assert _state(app) in (before, after), (stopped_at, _state(app))
        if _state(app) == before and calls > 1:
            assert any(line.startswith(("put back the previous content of", "removed "))
                       for line in lines), lines
        assert not any(p.name.endswith(OLD) for p in app.iterdir()), stopped_at
        assert interrupted(config) == []
        if missing:
            assert not (app / missing).exists()
        restore(config, backup, None, lines.append)
        assert _state(app) == after
        assert sorted(p.name for p in app.iterdir()) == sorted(PATHS), stopped_at
    # each path there moved aside, moved in and marked done; a missing one only moved in
    assert stopped_at == (3 * 3 if not missing else 2 * 3 + 1) + 1


def test_old_content_marked_done_but_not_yet_deleted_is_removed_by_the_next_restore(
        tmp_path: Path) -> None:
    config, backup = _setup(tmp_path)
    app = tmp_path / "app"
    leftover = app / f".beta{DONE}"
    leftover.mkdir()
    (leftover / "file.txt").write_text("beta v0\n")
    lines: list[str] = []
    restore(config, backup, None, lines.append)
    assert not leftover.exists()
    assert f"removed {leftover}, the previous content of {app / 'beta'} left by a restore " \
           "that had finished" in lines


def test_a_swap_cut_short_is_critical_in_the_check_until_the_next_restore(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, backup = _setup(tmp_path)
    app = tmp_path / "app"
    real_rename = os.rename
    calls = 0

    def rename(source: str | Path, target: str | Path) -> None:
        nonlocal calls
        calls += 1
        if calls == 4:  # beta moved aside, not yet replaced
            raise _Killed
        real_rename(source, target)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(_Killed):
        restore(config, backup, None, lambda line: None)
    monkeypatch.setattr(os, "rename", real_rename)
    backend = DirBackupBackend(config)
    snapshot = asyncio.run(backend.collect())
    [check] = backend.evaluate(snapshot)
    assert check.status is Status.CRITICAL
    assert check.summary == (
        f"a restore was interrupted while swapping: {', '.join(config.paths)} may mix old and "
        "restored content; run the restore again (it first puts back what was there)")
    # the confirmation says so too
    [offer] = [s for s in backend.actions(snapshot, check.target) if s.verb == "restore"]
    assert offer.effect.startswith(
        f"first put {', '.join(config.paths)} back as they were before the restore that was "
        f"interrupted while swapping; then verify {backup.name} (")
    assert not (app / "beta").exists()
    restore(config, backup, None, lambda line: None)
    snapshot = asyncio.run(backend.collect())
    [check] = backend.evaluate(snapshot)
    assert check.status is Status.OK, check.summary
    [offer] = [s for s in backend.actions(snapshot, check.target) if s.verb == "restore"]
    assert offer.effect.startswith(f"verify {backup.name} (")


def test_a_damaged_swap_record_is_reported_and_never_guessed_from(tmp_path: Path) -> None:
    config, backup = _setup(tmp_path)
    record = Path(config.dir) / f".{config.name}{RECORD}"
    record.write_text('[{"dest": ')
    assert interrupted(config) == [str(record)]
    with pytest.raises(archive.BackupError, match=r"cannot read .*left by an interrupted "
                                                  r"restore: .*check the restored paths by hand"):
        restore(config, backup, None, lambda line: None)
    assert _state(tmp_path / "app")["alpha/sub/file.txt"] == "alpha v2\n"
