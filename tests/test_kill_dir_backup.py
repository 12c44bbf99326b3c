"""`[[backup]]` directory backups SIGKILLed at random moments (seeded: OPSCONSOLE_KILL_SEED).

After every kill, an archive under its final name matches its recorded sha256 and lists with
tar; anything else is a `.part` or a sidecar the next run removes; the next run succeeds and
leaves nothing partial behind.
"""

from __future__ import annotations

import hashlib
import random
import subprocess
from collections.abc import Callable
from pathlib import Path

from console.core.files import recorded_checksum
from tests.conftest import OPSCONSOLE
from tests.support.kill_runs import kill_rng, run_killed, run_to_end, schedule

KILLS = 20


def check_archives(directory: Path, checked: dict[str, tuple[int, float]], when: str) -> None:
    """Final names are complete, verified archives (or their sidecars); the rest is .part."""
    if not directory.exists():
        return
    for path in sorted(directory.iterdir()):
        name = path.name
        if name.endswith((".part", ".sha256")):
            continue
        assert name.endswith(".tar.gz") and not name.startswith("."), \
            f"{when}: unexpected file {name}"
        stat = path.stat()
        if checked.get(name) == (stat.st_size, stat.st_mtime):
            continue
        digest = recorded_checksum(path)
        assert digest == hashlib.sha256(path.read_bytes()).hexdigest(), \
            f"{when}: {name} does not match its recorded sha256 ({digest})"
        listing = subprocess.run(["tar", "-tzf", str(path)], capture_output=True, timeout=60,
                                 check=False)
        assert listing.returncode == 0 and b"media/notes.txt" in listing.stdout, \
            f"{when}: tar cannot list {name}"
        checked[name] = (stat.st_size, stat.st_mtime)


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
    kills = kill_rng()
    measured = run_to_end(argv, cli_env, tmp_path / "measured.log")
    assert measured.returncode == 0, measured.output
    print(f"an unkilled backup took {measured.seconds:.2f}s, its output from "
          f"{measured.first_output:.2f}s to {measured.last_output:.2f}s")
    checked: dict[str, tuple[int, float]] = {}
    for number, (delay, group) in enumerate(schedule(kills, measured, KILLS), 1):
        ran = run_killed(argv, cli_env, tmp_path / f"kill{number}.log", delay, group)
        check_archives(backups, checked, f"kill {number} ({ran.describe()})")
    last = run_to_end(argv, cli_env, tmp_path / "last.log")
    assert last.returncode == 0, last.output
    check_archives(backups, checked, "after the last run")
    names = sorted(p.name for p in backups.iterdir())
    archives = [n for n in names if n.endswith(".tar.gz")]
    assert names == sorted([*archives, *(a + ".sha256" for a in archives)]), names
