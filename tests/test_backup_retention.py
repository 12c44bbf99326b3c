"""Retention deletes exactly what its rule names: the boundaries of age and count, the newest
verified backup kept whatever its age, other targets' files and half-written ones untouched.

PostgreSQL dumps and Docker volume archives, on real files in a temp dir.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import pytest

from backends.docker import volumes
from backends.postgres import retention
from backends.postgres.snapshot import BackupInfo

NOW = 1_800_000_000.0
DAY = 86400.0


def _info(days_ago: float, verified: bool = True) -> BackupInfo:
    return BackupInfo(f"/b/{days_ago:g}", NOW - days_ago * DAY, 1, verified)


def _paths(backups: list[BackupInfo]) -> list[str]:
    return [b.path for b in backups]


def test_pg_expiry_boundary_is_inclusive_of_keep_days() -> None:
    backups = [_info(1), _info(10), _info(10.5)]
    # exactly keep_days old is still kept; a second older goes
    assert retention.expired(backups, 10 * DAY, 1, now=NOW) == [backups[2]]
    assert _paths(retention.expired(backups, 10 * DAY, 1, now=NOW + 1)) == ["/b/10.5", "/b/10"]


def test_pg_expiry_deletes_oldest_first_down_to_keep_min() -> None:
    backups = [_info(d) for d in (5, 40, 50, 60, 70)]
    assert _paths(retention.expired(backups, 30 * DAY, 3, now=NOW)) == ["/b/70", "/b/60"]
    assert _paths(retention.expired(backups, 30 * DAY, 5, now=NOW)) == []
    assert _paths(retention.expired(backups, 30 * DAY, 0, now=NOW)) == [
        "/b/70", "/b/60", "/b/50", "/b/40"]
    # the input order does not matter: the rule sorts by age itself
    assert _paths(retention.expired(list(reversed(backups)), 30 * DAY, 3, now=NOW)) == [
        "/b/70", "/b/60"]


def test_pg_the_newest_verified_backup_survives_any_age() -> None:
    backups = [_info(40, verified=False), _info(50), _info(60)]
    assert _paths(retention.expired(backups, 1 * DAY, 0, now=NOW)) == ["/b/60", "/b/40"]
    assert retention.newest_verified(backups) is backups[1]
    assert retention.newest_verified([_info(1, verified=False)]) is None


def _dump(directory: Path, name: str, started: float, manifest: object | None = None,
          verified: bool = True) -> Path:
    path = directory / retention.backup_name(name, started)
    path.write_bytes(b"PGDMP" + name.encode())
    path.with_name(path.name + ".sha256").write_text("x  y\n")
    if manifest is None:
        manifest = {"verified": verified, "sha256": "abc"}
    path.with_name(path.name + ".json").write_text(json.dumps(manifest))
    return path


def test_pg_catalogue_lists_newest_first_whatever_the_directory_order(
        tmp_path: Path, rng: random.Random) -> None:
    now = time.time() // 1
    ages = list(range(0, 12 * 3600, 3600))
    rng.shuffle(ages)
    for age in ages:
        _dump(tmp_path, "main", now - age, verified=age > 5 * 3600)
    found = retention.list_backups(tmp_path, "main")
    assert [b.started for b in found] == [now - age for age in sorted(ages)]
    newest = retention.newest_verified(found)
    assert newest is not None and newest.started == now - 6 * 3600


def test_pg_catalogue_reads_names_manifests_and_order(tmp_path: Path) -> None:
    now = time.time() // 1
    newest = _dump(tmp_path, "main", now - 60)
    middle = _dump(tmp_path, "main", now - 3600, verified=False)
    oldest = _dump(tmp_path, "main", now - 7200, manifest=["not", "a", "dict"])
    _dump(tmp_path, "main-replica", now)  # another target's backup
    (tmp_path / (retention.backup_name("main", now) + ".part")).write_bytes(b"half")
    (tmp_path / "main-20260101T000000Z.dump.old").write_bytes(b"x")
    found = retention.list_backups(tmp_path, "main")
    assert [Path(b.path).name for b in found] == [newest.name, middle.name, oldest.name]
    assert [(b.started, b.verified, b.sha256, b.note) for b in found] == [
        (now - 60, True, "abc", ""), (now - 3600, False, "abc", ""),
        (now - 7200, False, "", "no manifest")]
    assert found[0].size == newest.stat().st_size
    assert retention.list_backups(tmp_path / "missing", "main") == ()


def test_pg_apply_retention_removes_files_with_their_sidecars(tmp_path: Path) -> None:
    now = time.time() // 1
    kept = [_dump(tmp_path, "main", now - d * DAY) for d in (1, 2)]
    doomed = [_dump(tmp_path, "main", now - d * DAY) for d in (40, 50)]
    other = _dump(tmp_path, "other", now - 90 * DAY)
    deleted = retention.apply_retention(tmp_path, "main", 30 * DAY, 2)
    assert deleted == [doomed[1].name, doomed[0].name]
    left = sorted(p.name for p in tmp_path.iterdir())
    expected = [p.name + suffix for p in (*kept, other) for suffix in ("", ".json", ".sha256")]
    assert left == sorted(expected)


def test_pg_stale_parts_are_only_this_targets(tmp_path: Path) -> None:
    stamp = retention.backup_name("app", NOW)
    mine = tmp_path / f"{stamp}.part"
    theirs = tmp_path / f"{retention.backup_name('app-data', NOW)}.part"
    finished = tmp_path / stamp
    for path in (mine, theirs, finished):
        path.write_bytes(b"x")
    assert retention.remove_stale_parts(tmp_path, "app") == [mine.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([theirs.name, finished.name])
    assert retention.remove_stale_parts(tmp_path / "missing", "app") == []


def _archive(directory: Path, volume: str, age: float, good: bool = True, n: int = 0) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(NOW - age))
    path = directory / f"{volume}-{stamp}{'-' + str(n) if n else ''}.tar.gz"
    path.write_bytes(f"{volume} {age}".encode())
    if good:
        path.with_name(path.name + ".sha256").write_text(
            f"{volumes.sha256_of(path)}  {path.name}\n")
    os.utime(path, (NOW - age, NOW - age))
    return path


def test_volume_retention_keeps_the_newest_and_the_newest_good(tmp_path: Path) -> None:
    made = [_archive(tmp_path, "data", age) for age in (500, 400, 300)]
    bad = [_archive(tmp_path, "data", age, good=False) for age in (200, 100)]
    other = _archive(tmp_path, "data-2", 1000)
    removed = volumes.apply_retention(str(tmp_path), "data", keep=2)
    # the two newest are unverified, so the newest good one (age 300) stays as well
    assert removed == [made[1].name, made[0].name]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([bad[0].name, bad[1].name, made[2].name, made[2].name + ".sha256",
                           other.name, other.name + ".sha256"])
    assert volumes.apply_retention(str(tmp_path), "data", keep=3) == []
    assert volumes.apply_retention(str(tmp_path), "data", keep=1) == [bad[0].name]


def test_volume_catalogue_names_and_checksums(tmp_path: Path) -> None:
    first = _archive(tmp_path, "data", 50)
    second = _archive(tmp_path, "data", 50, n=2)
    os.utime(second, (NOW - 49, NOW - 49))  # written a second later, in the same stamp
    _archive(tmp_path, "data-x", 10)
    (tmp_path / f".{first.name}.part").write_bytes(b"half")
    found = volumes.list_backups(str(tmp_path), "data")
    assert [b.name for b in found] == [second.name, first.name]
    assert all(volumes.verify(b) and b.good for b in found)
    first.write_bytes(b"changed")
    assert not volumes.verify(volumes.list_backups(str(tmp_path), "data")[1])
    assert volumes.list_backups(str(tmp_path / "missing"), "data") == []
    taken = volumes.backup_name("data", NOW - 50, tmp_path)
    assert taken == first.name.replace(".tar.gz", "-3.tar.gz")
    lone = _archive(tmp_path, "solo", 70)
    assert volumes.backup_name("solo", NOW - 70, tmp_path) == lone.name.replace(".tar.gz",
                                                                                 "-2.tar.gz")
    (tmp_path / f".{lone.name.replace('.tar.gz', '-2.tar.gz')}.part").write_bytes(b"")
    assert volumes.backup_name("solo", NOW - 70, tmp_path).endswith("-3.tar.gz")
    assert volumes.backup_name("solo", NOW - 1, tmp_path).endswith("Z.tar.gz")


def test_volume_stale_parts_and_named_backups(tmp_path: Path) -> None:
    made = _archive(tmp_path, "app", 10)
    mine = tmp_path / f".{made.name.replace('.tar.gz', '-2.tar.gz')}.part"
    theirs = tmp_path / f".{made.name.replace('app-', 'app-data-')}.part"
    for path in (mine, theirs):
        path.write_bytes(b"x")
    assert volumes.remove_stale_parts(tmp_path, "app") == [mine.name]
    assert theirs.exists() and made.exists()
    assert volumes.find_backup(str(tmp_path), "app", made.name).path == str(made)
    assert volumes.find_backup(str(tmp_path), "app", str(made)).name == made.name
    with pytest.raises(volumes.VolumeError, match="is not in the backup dir"):
        volumes.find_backup(str(tmp_path), "app", f"/elsewhere/{made.name}")
    with pytest.raises(volumes.VolumeError, match=r"no backup app-x\.tar\.gz of volume app"):
        volumes.find_backup(str(tmp_path), "app", "app-x.tar.gz")
