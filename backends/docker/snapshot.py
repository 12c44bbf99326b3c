"""What one poll of a Docker engine read: containers, volumes and their backups (plain data)."""

from __future__ import annotations

from dataclasses import dataclass

from backends.docker.inspect import ContainerInfo
from backends.docker.volumes import BackupFile


@dataclass(frozen=True)
class VolumeState:
    name: str
    used_by: tuple[str, ...]
    backup_dir: str
    keep: int
    max_age: float | None
    backups: tuple[BackupFile, ...]

    @property
    def last_good(self) -> BackupFile | None:
        return next((b for b in self.backups if b.good), None)


@dataclass(frozen=True)
class DockerSnapshot:
    host: str
    collected_at: float
    containers: tuple[ContainerInfo, ...]
    missing: tuple[str, ...]
    unmatched: tuple[str, ...]
    volumes: tuple[VolumeState, ...]
    events_connected: bool | None = None

    def container(self, name: str) -> ContainerInfo | None:
        return next((c for c in self.containers if c.name == name), None)

    def volume(self, name: str) -> VolumeState | None:
        return next((v for v in self.volumes if v.name == name), None)
