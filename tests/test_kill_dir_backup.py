"""`[[backup]]` directory backups SIGKILLed at random moments (seeded: OPSCONSOLE_KILL_SEED).

After every kill, an archive under its final name matches its recorded sha256 and lists with
tar; anything else is a `.part` or a sidecar the next run removes; the next run succeeds and
leaves nothing partial behind.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from tests.conftest import OPSCONSOLE
from tests.support.kill_runs import FinalFiles, kill_repeatedly, run_to_end, tar_lists

KILLS = 20


def test_a_directory_backup_killed_at_any_moment_leaves_only_verified_archives(
        tmp_path: Path, write_config: Callable[..., Path], cli_env: dict[str, str],
        rng: random.Random) -> None:
    media = tmp_path / "app" / "media"
    media.mkdir(parents=True)
    for i in range(40):
        (media / f"f{i}.bin").write_bytes(rng.randbytes(100_000))
    (media / "notes.txt").write_text("notes\n")
    backups = tmp_path / "backups"
    config = write_config(f"[[backup]]\nname = 'media'\npaths = ['{media}']\n"
                          f"dir = '{backups}'\nkeep = 50\n")
    argv = [*OPSCONSOLE, "--headless", "backup", "dir:media", "--yes", "--config", str(config)]
    finals = FinalFiles(backups, lambda name: name.endswith((".part", ".sha256")),
                        tar_lists(b"media/notes.txt"))
    kill_repeatedly(argv, cli_env, tmp_path, KILLS, finals.check)
    last = run_to_end(argv, cli_env, tmp_path / "last.log")
    assert last.returncode == 0, last.output
    finals.check("after the last run")
    finals.only_published(".tar.gz", (".sha256",))


def _tree_state(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".opsconsole-restore" not in str(p.relative_to(root))}


def test_a_directory_restore_killed_at_any_moment_is_all_old_all_new_or_undone_next(
        tmp_path: Path, write_config: Callable[..., Path], cli_env: dict[str, str],
        rng: random.Random) -> None:
    app = tmp_path / "app"
    paths = [app / "media", app / "conf"]
    for path in paths:
        path.mkdir(parents=True)
        for i in range(15):
            (path / f"f{i}.bin").write_bytes(rng.randbytes(100_000))
    backups = tmp_path / "backups"
    config = write_config(f"[[backup]]\nname = 'media'\npaths = {[str(p) for p in paths]}\n"
                          f"dir = '{backups}'\nkeep = 50\n")
    made = run_to_end([*OPSCONSOLE, "--headless", "backup", "dir:media", "--yes", "--config",
                       str(config)], cli_env, tmp_path / "backup.log")
    assert made.returncode == 0, made.output
    backed_up = _tree_state(app)
    changed: dict[str, bytes] = {}

    def change() -> None:
        """Before each run: the tree changed since the backup, unless a swap was cut short
        (then the run must first put back what was there)."""
        nonlocal changed
        if record.exists():
            return
        for path in paths:
            for i in range(15):
                (path / f"f{i}.bin").write_bytes(f"changed {path.name} {i}".encode())
        changed = _tree_state(app)

    record = backups / ".media.opsconsole-restore-swap"
    cut_short: list[str] = []

    def consistent(what: str) -> None:
        if record.exists():
            cut_short.append(what)  # the next run undoes it; `check` says so meanwhile
            return
        assert _tree_state(app) in (backed_up, changed), f"{what}: a mix of old and new"

    argv = [*OPSCONSOLE, "--headless", "restore", "dir:media", "--yes", "--config", str(config)]
    kill_repeatedly(argv, cli_env, tmp_path, KILLS, consistent, before=change)
    print(f"{len(cut_short)} kills cut a swap short")
    if record.exists():
        told = run_to_end([*OPSCONSOLE, "--headless", "check", "--config", str(config)],
                          cli_env, tmp_path / "check.log")
        assert told.returncode == 2 and "a restore was interrupted while swapping" in \
            told.output, told.output
    last = run_to_end(argv, cli_env, tmp_path / "last.log")
    assert last.returncode == 0, last.output
    assert _tree_state(app) == backed_up
    assert sorted(p.name for p in app.iterdir()) == ["conf", "media"]
    assert not record.exists()
