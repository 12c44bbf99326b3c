"""Containers: state, health, uptime, exit code, restarts, CPU/memory; volumes and backups.

Crash loops come first and red, with the line that explains them. Keys act on the row under
the cursor: enter opens details and live logs, R restarts, s starts, S stops, b backs up the
selected volume (or the first volume of the selected container).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from backends.docker.backend import DockerBackend
from backends.docker.inspect import ContainerInfo
from backends.docker.snapshot import DockerSnapshot, VolumeState
from console.core.durations import format_age, format_span
from console.core.model import CheckResult, Status
from console.core.sizes import format_bytes
from console.session import Polled
from screens.table import TableScreen
from widgets.live_table import Column, LiveTable, Row
from widgets.status_text import status_cell, styled

CONTAINER_COLUMNS: list[Column] = [("Status", 4), ("Name", None), ("Image", 16, 5), ("State", 10, 1),
                     ("Health", 9, 2), ("Uptime", 9, 3), ("Exit", 4, 2), ("Restarts", 8, 1),
                     ("CPU", 6, 4), ("Memory", 9, 4), ("Note", None)]
VOLUME_COLUMNS: list[Column] = [("Status", 4), ("Volume", None), ("Used by", 20, 3), ("Last backup", 12, 1),
                  ("Kept", 6, 2), ("Size", 9, 2), ("Checksum", 9, 1), ("Backup dir", None)]


def container_row(info: ContainerInfo, check: CheckResult | None, now: float) -> tuple:  # type: ignore[type-arg]
    status = check.status if check else Status.UNKNOWN
    uptime = format_span(now - info.started_at) if info.state == "running" and info.started_at \
        else "-"
    usage = info.usage
    cpu = f"{usage.cpu_percent:.1f}%" if usage and usage.cpu_percent is not None else "-"
    memory = format_bytes(usage.memory) if usage and usage.memory is not None else "-"
    note = check.summary if check and status is not Status.OK else ""
    if info.crash is not None and info.crash.headline:
        # The line that explains the failure first: the column is narrow.
        verdict = note.split(' · "', 1)[0]
        note = f"{info.crash.headline} · {verdict}"
    state_style = "bold red" if info.state in ("restarting", "exited", "dead") else ""
    health_style = {"unhealthy": "bold red", "starting": "yellow"}.get(info.health or "", "")
    return (status_cell(status), Text(info.name, overflow="ellipsis"),
            Text(info.image, overflow="ellipsis", style="dim"),
            Text(info.state, style=state_style), Text(info.health or "-", style=health_style),
            Text(uptime), Text(str(info.exit_code) if info.exit_code or not info.running
                               else "-"),
            Text(str(info.restart_count), style="bold red" if info.crash else ""),
            Text(cpu), Text(memory), styled(note, status))


def volume_row(volume: VolumeState, check: CheckResult | None, now: float) -> tuple:  # type: ignore[type-arg]
    status = check.status if check else Status.UNKNOWN
    newest = volume.backups[0] if volume.backups else None
    checksum = "-" if newest is None else ("sha256" if newest.good else "missing")
    return (status_cell(status), Text(volume.name), Text(", ".join(volume.used_by) or "-",
                                                         overflow="ellipsis"),
            Text(format_age(newest.created, now) if newest else "never"),
            Text(str(len(volume.backups))), Text(format_bytes(newest.size) if newest else "-"),
            Text(checksum, style="" if checksum != "missing" else "yellow"),
            Text(volume.backup_dir, style="dim"))


class ContainersScreen(TableScreen[DockerSnapshot]):
    VIEW = "containers"
    NOUN = "container"
    DEFAULT_CSS = """
    ContainersScreen #containers { height: 2fr; }
    ContainersScreen #volumes { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "details", "details/logs", priority=True),
        Binding("R", "verb('restart')", "restart", key_display="R"),
        Binding("s", "verb('start')", "start"),
        Binding("S", "verb('stop')", "stop", key_display="S"),
        Binding("b", "backup", "backup volume"),
    ]

    def __init__(self) -> None:
        super().__init__(DockerBackend)

    def compose_tables(self) -> ComposeResult:
        yield LiveTable(CONTAINER_COLUMNS, id="containers",
                        empty="No container matches the config yet.")
        yield Static("Volumes", classes="caption", id="volumes-caption")
        yield LiveTable(VOLUME_COLUMNS, id="volumes")

    def extra_notices(self, polled: list[Polled[DockerSnapshot]]) -> Iterable[str]:
        for each in polled:
            if each.snapshot is not None and each.snapshot.events_connected is False:
                yield (f"{each.backend.name}: events stream reconnecting; polling every "
                       f"{each.backend.interval:g}s")

    def refresh_view(self) -> None:
        now = time.time()
        container_rows: list[tuple[tuple[int, str], Row]] = []
        volume_rows: list[tuple[tuple[int, str], Row]] = []
        for polled in self.polled():
            snap = polled.snapshot
            if snap is None:
                continue
            backend_id = polled.backend.id
            for info in snap.containers:
                check = polled.check(info.target)
                status = polled.status(info.target)
                container_rows.append(((-status.severity, info.name),
                                       (f"{backend_id}|{info.target}",
                                        container_row(info, check, now))))
            for missing in (*snap.missing, *snap.unmatched):
                check = polled.check(f"container:{missing}")
                if check is None:
                    continue
                cells = [status_cell(check.status), Text(missing)] + [Text("-")] * 8 + [
                    styled(check.summary, check.status)]
                container_rows.append(((-check.status.severity, missing),
                                       (f"{backend_id}|container:{missing}", tuple(cells))))
            for volume in snap.volumes:
                target = f"volume:{volume.name}"
                volume_rows.append(((-polled.status(target).severity, volume.name),
                                    (f"{backend_id}|{target}",
                                     volume_row(volume, polled.check(target), now))))
        container_rows.sort(key=lambda r: r[0])
        volume_rows.sort(key=lambda r: r[0])
        self.query_one("#containers", LiveTable).set_rows([row for _, row in container_rows])
        volumes = self.query_one("#volumes", LiveTable)
        volumes.set_rows([row for _, row in volume_rows])
        volumes.display = bool(volume_rows)
        self.query_one("#volumes-caption", Static).display = bool(volume_rows)

    # -- selection ------------------------------------------------------------------------
    def _selected(self) -> tuple[str, str] | None:
        key = self.selected_key()
        if not key:
            return None
        backend_id, _, target = key.partition("|")
        return backend_id, target

    def selected_target(self) -> str | None:
        selected = self._selected()
        return selected[1] if selected else None

    def _container(self, backend_id: str, target: str) -> ContainerInfo | None:
        polled = next((p for p in self.polled() if p.backend.id == backend_id), None)
        snap = polled.snapshot if polled else None
        return snap.container(target.partition(":")[2]) if snap else None

    # -- keys -----------------------------------------------------------------------------
    def action_backup(self) -> None:
        selected = self._selected()
        if selected is None:
            self.notify("Select a volume or a container first.", severity="warning")
            return
        backend_id, target = selected
        if target.startswith("container:"):
            info = self._container(backend_id, target)
            if info is None or not info.volumes:
                self.notify(f"{target} has no named volume to back up.", severity="warning")
                return
            target = f"volume:{info.volumes[0]}"
        self.ops.run_verb(target, "backup")

    def open_details(self, key: str) -> None:
        backend_id, _, target = key.partition("|")
        if not target.startswith("container:"):
            self.notify("Select a container first.", severity="warning")
            return
        from screens.container_detail import ContainerDetailScreen

        self.app.push_screen(ContainerDetailScreen(backend_id, target.partition(":")[2]))
