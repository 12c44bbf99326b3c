"""One container up close: `docker inspect` highlights, its backups, and live logs.

The logs (the Docker backend's log source for the container: stdout and stderr) start with
the last 200 lines and then follow in a `LogPane`; `/` searches them (matches highlighted,
n jumps to the next), p pauses scrolling. R, s, S act on the container and b backs up its
first volume.
"""

from __future__ import annotations

import time
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from backends.docker.backend import DockerBackend
from backends.docker.inspect import ContainerInfo
from backends.docker.snapshot import DockerSnapshot
from console.core.durations import clock, format_age, format_span
from console.core.loglines import LineSource
from console.core.sizes import format_bytes
from screens.base import ConsoleScreen
from widgets.log_pane import LOG_KEYS, LogPane, LogPaneActions


def highlights(info: ContainerInfo, snapshot: DockerSnapshot, now: float) -> list[str]:
    """The lines of `docker inspect` a person looks for first (plain text, never markup)."""
    lines = [f"image {info.image} · command {info.command or '-'}",
             f"restart policy {info.restart_policy} · RestartCount {info.restart_count} · "
             f"network {info.network_mode or '-'}"]
    if info.started_at:
        lines.append(f"started {clock(info.started_at)} ({format_age(info.started_at, now)})"
                     + (f" · last exit {info.exit_code} at {clock(info.finished_at)}"
                        if info.finished_at else ""))
    if info.error or info.oom_killed:
        lines.append(f"error: {info.error or 'killed: out of memory'}")
    for mount in info.mounts:
        source = mount.name or mount.source
        lines.append(f"mount {mount.kind} {source} -> {mount.destination}"
                     f" ({'rw' if mount.writable else 'ro'})")
    if info.ports:
        lines.append("ports " + ", ".join(info.ports))
    for probe in info.health_log[-3:]:
        lines.append(f"health {clock(probe.ended)} exit {probe.exit_code}: "
                     f"{probe.output or '-'}")
    for name in info.volumes:
        volume = snapshot.volume(name)
        if volume is None:
            continue
        if not volume.backups:
            lines.append(f"backups of {name}: none yet in {volume.backup_dir}")
        for backup in volume.backups[:3]:
            state = "sha256" if backup.good else "NO CHECKSUM"
            lines.append(f"backup {backup.name} {format_bytes(backup.size)} "
                         f"{format_age(backup.created, now)} {state}")
    return lines


class ContainerDetailScreen(LogPaneActions, ConsoleScreen):
    VIEW = "containers"
    DEFAULT_CSS = """
    ContainerDetailScreen #container-summary { height: auto; padding: 0 1; text-style: bold; }
    ContainerDetailScreen #container-inspect { height: auto; max-height: 14; padding: 0 1;
                                               color: $text-muted; }
    ContainerDetailScreen #container-logs { height: 1fr; border-top: solid $primary; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "back"),
        Binding("R", "verb('restart')", "restart", key_display="R"),
        Binding("s", "verb('start')", "start"),
        Binding("S", "verb('stop')", "stop", key_display="S"),
        Binding("b", "backup", "backup volume"),
        *LOG_KEYS,
    ]

    def __init__(self, backend_id: str, container: str) -> None:
        super().__init__()
        self.backend_id = backend_id
        self.container = container
        self._shown: tuple[object, ...] | None = None

    def compose_body(self) -> ComposeResult:
        yield Static(Text(self.container), id="container-summary")
        yield Static("", id="container-inspect")
        yield LogPane(self._logs, with_source=True, id="container-logs",
                      empty_hint="no logs for this container")

    @property
    def backend(self) -> DockerBackend | None:
        view = self.session.backend_view(self.backend_id)
        backend = view.backend if view else None
        return backend if isinstance(backend, DockerBackend) else None

    def _snapshot(self) -> DockerSnapshot | None:
        polled = next((p for p in self.session.polled(DockerBackend)
                       if p.backend.id == self.backend_id), None)
        return polled.snapshot if polled else None

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(LogPane).log_view.focus()

    def _logs(self) -> list[LineSource]:
        backend = self.backend
        return backend.log_sources(f"container:{self.container}") if backend is not None else []

    def refresh_view(self) -> None:
        snap = self._snapshot()
        summary = self.query_one("#container-summary", Static)
        info = snap.container(self.container) if snap else None
        if snap is None or info is None:
            summary.update(Text.assemble(self.container, ("  (not in the last poll)", "dim")))
            return
        view = self.session.backend_view(self.backend_id)
        check = next((c for c in (view.result.checks if view and view.result else ())
                      if c.target == info.target), None)
        now = time.time()
        up = f"up {format_span(now - info.started_at)}" if info.state == "running" \
            and info.started_at else info.state
        text = f"{self.container}  {check.status.name if check else ''}  " \
               f"{check.summary if check else up}"
        summary.update(Text(text))
        key = (info, snap.volumes, int(now) // 30)
        if key != self._shown:
            self._shown = key
            self.query_one("#container-inspect", Static).update(
                Text("\n".join(highlights(info, snap, now))))

    # -- keys -----------------------------------------------------------------------------
    def selected_target(self) -> str | None:
        return f"container:{self.container}"

    def apply_filter(self, text: str) -> None:
        self.query_one(LogPane).set_search(text)

    def action_back(self) -> None:
        self.dismiss(None)

    def action_backup(self) -> None:
        snap = self._snapshot()
        info = snap.container(self.container) if snap else None
        if info is None or not info.volumes:
            self.notify(f"container:{self.container} has no named volume to back up.",
                        severity="warning")
            return
        self.ops.run_verb(f"volume:{info.volumes[0]}", "backup")
