"""Volume backups and restores through a helper container, with checksums and retention.

A backup is `VOLUME-YYYYmmddTHHMMSSZ.tar.gz` with a `.sha256` beside it (sha256sum format).
The helper writes `.NAME.part`; only after fsync and the checksum file is it renamed, so an
interrupted backup never leaves a file that looks complete. Restore verifies the checksum,
stops the containers using the volume, unpacks into a side directory, swaps the old content
aside, and deletes the old content only once the new one is in place.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.docker.engine import EngineError
from backends.docker.inspect import HELPER_LABEL
from console.core.files import (
    PART,
    checksum_line,
    open_private,
    private_dir,
    publish,
    recorded_checksum,
    remove_durably,
    remove_leftovers,
    unused_name,
    write_durably,
)
from console.core.loglines import printable

SUFFIX = ".tar.gz"
CHECKSUM = ".sha256"
_STAMP = re.compile(r"^(?P<volume>.+)-(?P<stamp>\d{8}T\d{6}Z)(?:-(?P<n>\d+))?\.tar\.gz$")
_CHUNK = 1 << 20
PAST = {"pause": "paused", "stop": "stopped"}
RESTORE_NEW = ".opsconsole-restore-new"
RESTORE_OLD = ".opsconsole-restore-old"
VOLUME_LABEL = "org.opsconsole.volume"
HELD = ".opsconsole-held"  # `.VOLUME.opsconsole-held`: containers paused or stopped for a run

# Runs inside the helper (busybox sh); the backup's file name arrives as $1, never spliced in.
_RESTORE_SCRIPT = f"""
set -e
cd /volume
new={RESTORE_NEW}
old={RESTORE_OLD}
if [ -e "$old" ]; then
  echo "an earlier restore was interrupted: the volume's previous content is in $old;" \\
       "move it back or delete it, then retry" >&2
  exit 3
fi
rm -rf "$new"
mkdir "$new"
if ! tar -xzf "/backup/$1" -C "$new"; then
  rm -rf "$new"
  echo "cannot unpack $1: the volume was not changed" >&2
  exit 4
fi
# no device node or set-id program comes back from an archive
find "$new" \\( -type b -o -type c \\) -exec rm -f {{}} \\;
find "$new" -type f \\( -perm -4000 -o -perm -2000 \\) -exec chmod ug-s {{}} \\;
mkdir "$old"
for f in * .[!.]* ..?*; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  case "$f" in "$new"|"$old") continue;; esac
  mv "$f" "$old/"
done
for f in "$new"/* "$new"/.[!.]* "$new"/..?*; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  mv "$f" ./
done
rmdir "$new"
rm -rf "$old"
sync
"""


class VolumeError(EngineError):
    """A backup or restore failed; the text says why and what state things are in."""


@dataclass(frozen=True)
class BackupFile:
    name: str
    path: str
    size: int
    created: float
    checksum: str | None  # the recorded sha256, None when the .sha256 file is missing

    @property
    def good(self) -> bool:
        return self.checksum is not None


def backup_name(volume: str, now: float, directory: Path) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return unused_name(directory, f"{volume}-{stamp}", SUFFIX)


def list_backups(directory: str, volume: str) -> list[BackupFile]:
    """This volume's finished backups, newest first (thread side)."""
    found: list[BackupFile] = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    for entry in entries:
        match = _STAMP.match(entry.name)
        if not match or match.group("volume") != volume or not entry.is_file():
            continue
        stat = entry.stat()
        found.append(BackupFile(entry.name, entry.path, stat.st_size, stat.st_mtime,
                                recorded_checksum(Path(entry.path))))
    found.sort(key=lambda b: (b.created, b.name), reverse=True)
    return found


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(backup: BackupFile) -> bool:
    return backup.checksum is not None and sha256_of(Path(backup.path)) == backup.checksum


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def apply_retention(directory: str, volume: str, keep: int) -> list[str]:
    """Delete all but the newest `keep` backups, never the newest good one; names removed."""
    backups = list_backups(directory, volume)
    newest_good = next((b for b in backups if b.good), None)
    removed: list[str] = []
    for backup in backups[keep:]:
        if backup is newest_good:
            continue
        for path in (backup.path + CHECKSUM, backup.path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        removed.append(backup.name)
    return removed


def _helper_output(container: Any) -> str:
    try:
        raw = container.logs(tail=5)  # stdout and stderr
    except Exception:
        return ""
    lines = [line for line in raw.decode("utf-8", "replace").splitlines() if line.strip()]
    return printable(lines[-1], 300) if lines else ""


# What unpacking needs: set owners, write anywhere in the volume, set modes and times. Not
# MKNOD (no device nodes) nor FSETID, SETUID, SETGID or anything else root usually has.
_RESTORE_CAPS = ["CHOWN", "DAC_OVERRIDE", "FOWNER"]


@dataclass(frozen=True)
class SpecialMembers:
    """What a volume archive must not bring back as it is (thread side)."""
    devices: tuple[str, ...]  # device nodes: the archive is refused
    set_id: tuple[str, ...]  # set-uid or set-gid files: restored without those bits


def special_members(path: Path) -> SpecialMembers:
    """Device nodes and set-id files in a tar archive, every one of them."""
    devices: list[str] = []
    set_id: list[str] = []
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                if member.isdev():
                    devices.append(member.name)
                elif member.isfile() and member.mode & 0o6000:
                    set_id.append(f"{member.name} (set-id {member.mode & 0o7777:o})")
    except (OSError, tarfile.TarError) as exc:
        raise VolumeError(f"cannot read {path.name} as a tar archive: {exc}") from None
    return SpecialMembers(tuple(devices), tuple(set_id))


def _run_helper(client: Any, image: str, command: list[str], binds: dict[str, dict[str, str]],
                purpose: str, volume: str, timeout: float,
                caps: list[str] | None = None) -> None:
    """Run a helper container to its end; raise VolumeError with its last line if it fails."""
    import docker.errors  # type: ignore[import-untyped]

    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        raise VolumeError(f"helper image {image} is not on this engine: load it (docker pull "
                          f"{image}) or set helper_image in [[docker]]") from None
    name = f"opsconsole-{purpose}-{volume}-{os.getpid()}-{int(time.time() * 1000) % 10**8}"
    helper = client.containers.create(
        image, command, name=name, volumes=binds, network_mode="none",
        labels={HELPER_LABEL: purpose, VOLUME_LABEL: volume},
        **({"cap_drop": ["ALL"], "cap_add": caps, "security_opt": ["no-new-privileges"]}
           if caps is not None else {}))
    try:
        helper.start()
        try:
            result = helper.wait(timeout=timeout)
        except Exception as exc:
            raise VolumeError(f"the {purpose} helper did not finish within {timeout:g}s") \
                from exc
        code = int(result["StatusCode"])
        if code != 0:
            reason = _helper_output(helper) or (
                "the helper was killed" if code in (137, 143) else f"exit code {code}")
            raise VolumeError(reason)
    finally:
        with contextlib.suppress(Exception):
            helper.remove(force=True)


def remove_stale_parts(target: Path, volume: str) -> list[str]:
    """This volume's .part files and orphaned sidecars left by an interrupted run (its lock
    says none is running). Only names that parse as this volume's: volume `app` never takes
    `app-data`'s file."""
    pattern = re.compile(re.escape(volume) + r"-\d{8}T\d{6}Z(?:-\d+)?" + re.escape(SUFFIX))
    return remove_leftovers(target, pattern)


def settle_helpers(client: Any, volume: str, timeout: float, log: Callable[[str], None]) -> None:
    """Deal with helper containers an interrupted run of this volume left behind.

    A killed console does not stop its helper: a backup helper still writing is stopped (its
    file is a .part nobody will publish); a restore helper is let finish its swap, since
    stopping it half-way would leave the volume's old content aside. Then they are removed.
    """
    helpers = client.containers.list(all=True, filters={"label": f"{VOLUME_LABEL}={volume}"})
    for helper in helpers:
        purpose = helper.labels.get(HELPER_LABEL, "")
        if helper.status == "running" and purpose == "restore":
            log(f"waiting for {helper.name}, left running by an interrupted restore")
            with contextlib.suppress(Exception):
                helper.wait(timeout=timeout)
        log(f"removing {helper.name}, left by an interrupted {purpose or 'run'}")
        with contextlib.suppress(Exception):
            helper.remove(force=True)


def _held_path(directory: Path, volume: str) -> Path:
    return directory / f".{volume}{HELD}"


def hold(directory: Path, volume: str, how: str, containers: list[Any]) -> None:
    """Record, before pausing or stopping them, which containers a run holds, so a run that
    is killed before it releases them is undone by the next one."""
    write_durably(_held_path(directory, volume),
                  json.dumps({"how": how, "containers": [c.id for c in containers]}))


def release_held(client: Any, directory: Path, volume: str, log: Callable[[str], None]) -> None:
    """Unpause or start again what an interrupted run recorded with `hold`, then forget it."""
    path = _held_path(directory, volume)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        how, ids = str(record["how"]), [str(i) for i in record["containers"]]
    except FileNotFoundError:
        return
    except (OSError, ValueError, KeyError, TypeError):
        how, ids = "", []
    for container_id in ids:
        try:
            container = client.containers.get(container_id)
            if container.status == "paused":
                container.unpause()
                log(f"unpaused {container.name}, left paused by an interrupted run")
            elif how == "stop" and container.status in ("exited", "created"):
                container.start()
                log(f"started {container.name}, left stopped by an interrupted run")
        except Exception as exc:
            log(f"could not release container {container_id[:12]}: {printable(str(exc), 200)}")
    remove_durably(path)


def recover(client: Any, directory: Path, volume: str, timeout: float,
            log: Callable[[str], None]) -> None:
    """Undo what an interrupted backup or restore of `volume` left: helpers, held containers,
    partial files."""
    settle_helpers(client, volume, timeout, log)
    release_held(client, directory, volume, log)
    for stale in remove_stale_parts(directory, volume):
        log(f"removed {stale} left by an interrupted backup")


def users_of(client: Any, volume: str) -> list[Any]:
    """Containers (any state) that mount the volume."""
    return list(client.containers.list(all=True, filters={"volume": volume}))


def backup_volume(client: Any, volume: str, directory: str, *, keep: int, image: str,
                  quiesce: str, timeout: float, log: Callable[[str], None]) -> BackupFile:
    """Write one backup of `volume` into `directory`, then apply retention (thread side)."""
    import docker.errors  # type: ignore[import-untyped]

    try:
        client.volumes.get(volume)
    except docker.errors.NotFound:
        raise VolumeError(f"volume {volume} does not exist on this engine") from None
    target = Path(directory)
    try:
        private_dir(target)
    except OSError as exc:
        raise VolumeError(f"cannot create backup dir {directory}: {exc.strerror}") from None
    recover(client, target, volume, timeout, log)
    name = backup_name(volume, time.time(), target)
    part = target / f".{name}{PART}"
    # created 0600 here: the helper's tar truncates and fills it, keeping the mode
    try:
        os.close(open_private(part, os.O_WRONLY, new=True))
    except OSError as exc:
        raise VolumeError(f"cannot write {part.name} in {directory}: {exc.strerror}") from None
    paused: list[Any] = []
    stopped: list[Any] = []
    if quiesce != "none":
        running = [c for c in users_of(client, volume) if c.status == "running"]
        if running:
            hold(target, volume, quiesce, running)
        for container in running:
            if quiesce == "pause":
                container.pause()
                paused.append(container)
            else:
                container.stop()
                stopped.append(container)
            log(f"{PAST[quiesce]} {container.name} for the copy")
    try:
        log(f"writing {part.name} with {image}")
        _run_helper(client, image, ["tar", "-czf", f"/backup/{part.name}", "-C", "/volume", "."],
                    {volume: {"bind": "/volume", "mode": "ro"},
                     str(target): {"bind": "/backup", "mode": "rw"}},
                    "backup", volume, timeout)
    except BaseException:
        with contextlib.suppress(OSError):
            part.unlink()
        raise
    finally:
        for container in paused:
            with contextlib.suppress(Exception):
                container.unpause()
                log(f"unpaused {container.name}")
        for container in stopped:
            with contextlib.suppress(Exception):
                container.start()
                log(f"started {container.name} again")
        _held_path(target, volume).unlink(missing_ok=True)
    final = target / name
    try:
        _fsync_file(part)  # the helper container wrote it (into our 0600 file)
        digest = sha256_of(part)
        write_durably(target / f"{name}{CHECKSUM}", checksum_line(digest, name),
                      target / f".{name}{CHECKSUM}{PART}")
        publish(part, final)
    except OSError as exc:
        for leftover in (part, target / f".{name}{CHECKSUM}{PART}",
                         target / f"{name}{CHECKSUM}"):
            with contextlib.suppress(OSError):
                leftover.unlink()
        raise VolumeError(f"not finished: {exc.strerror or exc}") from None
    size = final.stat().st_size
    log(f"wrote {name} ({size} bytes, sha256 {digest[:12]}…)")
    removed = apply_retention(directory, volume, keep)
    if removed:
        log(f"retention (keep {keep}) removed {', '.join(removed)}")
    return BackupFile(name, str(final), size, final.stat().st_mtime, digest)


def find_backup(directory: str, volume: str, choice: str) -> BackupFile:
    """The backup a user named (its file name or path inside the backup dir)."""
    wanted = os.path.basename(choice)
    if os.path.dirname(choice) and os.path.realpath(os.path.dirname(choice)) != \
            os.path.realpath(directory):
        raise VolumeError(f"{choice} is not in the backup dir {directory} of volume {volume}")
    for backup in list_backups(directory, volume):
        if backup.name == wanted:
            return backup
    raise VolumeError(f"no backup {wanted} of volume {volume} in {directory} (the backups "
                      "list shows the names)")


def restore_volume(client: Any, volume: str, backup: BackupFile, *, image: str,
                   stop_timeout: int, timeout: float, log: Callable[[str], None]) -> list[str]:
    """Replace the volume's content with a verified backup; names of containers restarted."""
    if backup.checksum is None:
        raise VolumeError(f"{backup.name} has no {CHECKSUM} file: it cannot be verified, "
                          "so it is not restored")
    log(f"verifying the sha256 of {backup.name}")
    if sha256_of(Path(backup.path)) != backup.checksum:
        raise VolumeError(f"{backup.name} does not match its sha256: the file is damaged; "
                          "pick another backup")
    special = special_members(Path(backup.path))
    if special.devices:
        shown = ", ".join(special.devices[:3]) + (", …" if special.devices[3:] else "")
        raise VolumeError(f"{backup.name} holds {len(special.devices)} device node(s) ({shown}): "
                          "a volume backup never needs them, so it is not restored")
    for item in special.set_id:
        log(f"{item}: restored without its set-id bits")
    directory = Path(os.path.dirname(backup.path))
    recover(client, directory, volume, timeout, log)
    running = [c for c in users_of(client, volume) if c.status in ("running", "restarting",
                                                                     "paused")]
    if running:
        hold(directory, volume, "stop", running)
    for container in running:
        log(f"stopping {container.name}")
        if container.status == "paused":
            container.unpause()
        container.stop(timeout=stop_timeout)
    restarted: list[str] = []
    try:
        log(f"unpacking {backup.name} into {volume}")
        _run_helper(client, image, ["sh", "-c", _RESTORE_SCRIPT, "restore", backup.name],
                    {volume: {"bind": "/volume", "mode": "rw"},
                     os.path.dirname(backup.path): {"bind": "/backup", "mode": "ro"}},
                    "restore", volume, timeout, caps=_RESTORE_CAPS)
        log(f"{volume} now holds the content of {backup.name}")
    finally:
        for container in running:
            try:
                container.start()
                restarted.append(container.name)
                log(f"started {container.name}")
            except Exception as exc:
                log(f"could not start {container.name}: {printable(str(exc), 200)}")
        _held_path(directory, volume).unlink(missing_ok=True)
    return restarted
