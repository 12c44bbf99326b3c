"""What a view needs from the app that shows it: a Session and a few ways to act.

Views depend on this protocol, never on the App class, so the app can import the views
without a cycle, and a view can be tested inside any app that offers the same.
"""

from __future__ import annotations

from typing import Protocol

from console.core.actions import ActionSpec
from console.core.model import CheckResult
from console.session import Session
from widgets.topbar import TopBar


class ConsoleHost(Protocol):
    session: Session

    def run_verb(self, target: str, verb: str) -> None:
        """Start the action `verb` on `target` (confirmed, locked and audited)."""

    def start_action(self, spec: ActionSpec, *, confirmed: bool = False) -> None:
        """Start one action through the dispatcher (`confirmed`: a dialog already asked)."""

    def open_silence(self, target: str) -> None:
        """Ask how long and why, then silence `target` (or start a maintenance window)."""

    def open_deploy(self, target: str) -> None:
        """Ask which release to deploy to a `deploy:` target, then confirm its plan."""

    def open_action_menu(self, target: str) -> None:
        """The menu of every action on `target`, disabled ones with their reason."""

    def open_details(self, check: CheckResult) -> None:
        """The details of one check."""

    def show_view_for(self, target: str) -> None:
        """Switch to the view that shows `target`."""

    def paint_topbar(self, bar: TopBar) -> None:
        """Fill the top line: host, who, read-only, counts, last poll."""

    def notice_text(self) -> str:
        """A line above the overview when something needs saying (no config, discovery)."""
