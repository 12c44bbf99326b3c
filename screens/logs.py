"""The Logs view: pick sources on the left, follow them merged by time on the right.

Sources come from every backend offering `log_sources()`: log files, unit journals and
container logs, so the view opens with units or containers configured and no [[logs]].
Space picks or unpicks the highlighted source, tab moves between the list and the log;
every change reloads the `LogPane`, which reads, merges and shows the chosen sources.
On a narrow terminal the list shows only while it has the focus, so the log gets the width.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import SelectionList
from textual.widgets.selection_list import Selection

from console.core.loglines import LineSource, printable
from screens.base import ConsoleScreen
from widgets.log_pane import LOG_KEYS, LogPane, LogPaneActions

Hook = Callable[[], list[LineSource]]
# Below this many columns the sources list gives its 32 to the log unless it has the focus.
NARROW = 110


class LogsScreen(LogPaneActions, ConsoleScreen):
    VIEW = "logs"
    DEFAULT_CSS = """
    LogsScreen #log-sources { width: 32; height: 1fr; border: round $panel; }
    LogsScreen #log-pane { width: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_source", "pick/unpick source"),
        Binding("tab", "switch_pane", "sources/log"),
        *LOG_KEYS,
    ]

    def __init__(self) -> None:
        super().__init__()
        self._providers: dict[str, Hook] = {}  # label -> the backend hook that opens it
        self._wanted: frozenset[str] = frozenset()
        self._catalog_ready = False

    def compose_body(self) -> ComposeResult:
        with Horizontal():
            yield SelectionList[str](id="log-sources")
            yield LogPane(self._open_wanted, with_source=True, id="log-pane",
                          empty_hint="no source chosen: pick one on the left with space")

    @property
    def log_pane(self) -> LogPane:
        return self.query_one(LogPane)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#log-sources", SelectionList).border_title = "sources (space)"
        self.run_worker(self._load_catalog(), exclusive=True, group="log-catalog")

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self._catalog_ready:
            self.run_worker(self._load_catalog(), exclusive=True, group="log-catalog")

    async def _load_catalog(self) -> None:
        hooks: list[Hook] = [backend.log_sources for backend in self.session.log_backends()]
        found = await asyncio.to_thread(_discover, hooks)
        selection = self.query_one("#log-sources", SelectionList)
        new = [(label, hook) for label, hook in found if label not in self._providers]
        for label, hook in new:  # e.g. a file that a glob matches since the last look
            self._providers[label] = hook
            selection.add_option(Selection(printable(label), label, True))
        if new:
            self._set_wanted(frozenset(selection.selected))
        if not self._catalog_ready:
            self._catalog_ready = True
            selection.focus()

    def _open_wanted(self) -> list[LineSource]:
        """In the pane's worker thread: open the chosen sources, close the others."""
        wanted = self._wanted
        opened: list[LineSource] = []
        for hook in {self._providers[label] for label in wanted if label in self._providers}:
            for source in hook():
                if source.label in wanted:
                    opened.append(source)
                else:
                    source.close()
        return opened

    def _set_wanted(self, wanted: frozenset[str]) -> None:
        if wanted != self._wanted:
            self._wanted = wanted
            self.log_pane.reload()

    def on_selection_list_selected_changed(
            self, event: SelectionList.SelectedChanged[str]) -> None:
        self._set_wanted(frozenset(event.selection_list.selected))

    # -- keys -----------------------------------------------------------------------------
    def apply_filter(self, text: str) -> None:
        self.log_pane.set_search(text)

    def selected_target(self) -> str | None:
        selection = self.query_one("#log-sources", SelectionList)
        index = selection.highlighted
        if index is None:
            return None
        label = str(selection.get_option_at_index(index).value)
        # journals and container logs are labelled by their target; files by their [[logs]]
        return label if ":" in label else f"log:{label.split('/', 1)[0]}"

    def action_toggle_source(self) -> None:
        selection = self.query_one("#log-sources", SelectionList)
        if not selection.display:  # narrow, the log has the focus: show the list first
            self.action_switch_pane()
            return
        selection.action_select()

    def action_switch_pane(self) -> None:
        selection = self.query_one("#log-sources", SelectionList)
        if selection.has_focus:
            self.log_pane.log_view.focus()
        else:
            selection.display = True
            selection.focus()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self._fit_sources()

    def on_resize(self, event: events.Resize) -> None:
        self._fit_sources()

    def _fit_sources(self) -> None:
        selection = self.query_one("#log-sources", SelectionList)
        selection.display = self.size.width >= NARROW or selection.has_focus


def _discover(hooks: list[Hook]) -> list[tuple[str, Hook]]:
    """Every source's label with the hook that opens it (sources are closed at once)."""
    found = []
    for hook in hooks:
        for source in hook():
            found.append((source.label, hook))
            source.close()
    return found
