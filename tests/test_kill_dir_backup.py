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
