"""The Fleet view: one row per host, narrowed to one group at a time if asked.

Rows: reachability, worst status, counts, the worst targets' causes, protocol version and
round-trip time. Enter opens the host: every view shows it from then on, with its name in the
header (and a distinct frame when its group is protected).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from console.core.durations import clock
from console.core.model import Status
from screens.base import ConsoleScreen
from widgets.live_table import LiveTable, Row
from widgets.status_text import status_cell, styled

if TYPE_CHECKING:
    from console.fleet.monitor import FleetMonitor, RemoteHost

QUIET_REDRAW = 15.0  # seconds
_REACH = {"up": ("up", "green"), "connecting": ("connecting", "yellow"), "down": ("DOWN", "bold red")}


def host_row(host: RemoteHost) -> Row:
    reach, style = _REACH.get(host.state, (host.state, ""))
    counts = host.counts()
    tally = (" ".join(f"{counts[s]} {s.short.lower()}" for s in
                      (Status.CRITICAL, Status.UNKNOWN, Status.WARNING, Status.OK) if counts.get(s))
             if host.state == "up" else "")
    if host.state == "down":
        retry = f" (retry {clock(host.retry_at)})" if host.retry_at else ""
        cause = styled(f"{host.reason}{retry}", Status.UNKNOWN)
    else:
        causes = host.causes()
        cause = styled("; ".join(f"{c.label}: {c.summary}" for c in causes) or "all OK",
                       causes[0].status if causes else Status.OK)
    rtt = f"{host.rtt * 1000:.0f} ms" if host.rtt is not None and host.state == "up" else ""
    protocol = f"{host.protocol} ({host.version})" if host.protocol is not None else ""
    return (host.name, (Text(host.name), Text(host.entry.group, style="dim"),
                        Text(reach, style=style), status_cell(host.worst()), Text(tally),
                        cause, Text(protocol, style="dim"), Text(rtt, style="dim")))


class FleetScreen(ConsoleScreen):
    VIEW = "fleet"
    NOUN = "host"
    HOST_VIEW = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_host", "open host"),
        Binding("g", "next_group", "group"),
        Binding("r", "retry", "retry now"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.group: str | None = None  # only this group's hosts; None: every host

    def on_mount(self) -> None:
        super().on_mount()
        # quiet hosts send nothing; their round-trip times are redrawn now and then
        self.set_interval(QUIET_REDRAW, self._quiet_redraw)

    def _quiet_redraw(self) -> None:
        if self.app.screen is self:
            self.refresh_view()

    @property
    def fleet(self) -> FleetMonitor | None:
        return cast("FleetMonitor | None", getattr(self.app, "fleet", None))

    def compose_body(self) -> ComposeResult:
        yield Static(id="notice")
        yield LiveTable([("Host", None), ("Group", 8), ("Reach", 10), ("Status", 4),
                         ("Checks", 18), ("Worst causes", None), ("Protocol", 12),
                         ("RTT", 8)], id="hosts")

    def refresh_view(self) -> None:
        notice = self.query_one("#notice", Static)
        fleet = self.fleet
        hosts = list(fleet.hosts.values()) if fleet else []
        if self.group is not None:
            hosts = [h for h in hosts if h.entry.group == self.group]
        down = sum(1 for h in hosts if h.state == "down")
        shown = f"Group {self.group or '(none)'}: " if self.group is not None else ""
        notice.update(Text(
            f"{shown}{len(hosts)} hosts, {down} unreachable. Enter opens a host, g shows one "
            "group, r retries now." if fleet and fleet.hosts else "No [[hosts]] in the config: "
            "add [[hosts]] entries (name, ssh) or [[hosts_from]] to watch other machines here."))
        order = sorted(hosts, key=lambda h: (-h.worst().severity, h.name))
        self.query_one(LiveTable).set_rows([host_row(h) for h in order])

    def apply_filter(self, text: str) -> None:
        self.query_one(LiveTable).set_filter(text)

    def selected_host(self) -> str | None:
        return self.query_one(LiveTable).selected_key

    def action_open_host(self) -> None:
        name = self.selected_host()
        if name is None:
            self.notify("Select a host first.", severity="warning")
            return
        cast(Any, self.app).open_host(name)

    def on_data_table_row_selected(self) -> None:
        self.action_open_host()

    def groups(self) -> list[str]:
        fleet = self.fleet
        return sorted({h.entry.group for h in fleet.hosts.values()}) if fleet else []

    def action_next_group(self) -> None:
        """Every host, then each group in turn, then every host again."""
        cycle: list[str | None] = [None, *self.groups()]
        at = cycle.index(self.group) if self.group in cycle else 0
        self.group = cycle[(at + 1) % len(cycle)]
        self.notify(f"Showing group {self.group or '(none)'}." if self.group is not None
                    else "Showing every host.", timeout=3)
        self.refresh_view()

    def action_retry(self) -> None:
        if self.fleet is not None:
            self.fleet.retry_now(self.selected_host())

    def action_actions(self) -> None:
        self.notify("Open a host (enter) to act on it, or: opsconsole --headless VERB TARGET "
                    "--host NAME.", severity="warning")
