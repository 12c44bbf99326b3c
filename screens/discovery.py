"""The Discovery panel: what discovery found on this host and, one line each, what it did not.

Pushed over the current view with `D` when the console runs on a discovered config.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from screens.dialog import Dialog
from widgets.footer import FittedFooter


class DiscoveryScreen(Dialog[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("D", "close", "close", show=False),
    ]

    def __init__(self, report: Any) -> None:
        super().__init__()
        self.report = report

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):
            yield Static(render_report(self.report), id="discovery")
        yield FittedFooter()


def render_report(report: Any) -> Text:
    """Found probes with their entries, then one line per probe that found nothing."""
    text = Text.assemble(("Discovery", "bold"),
                         f"  ({report.elapsed:.2f}s, read-only; `opsconsole init` writes "
                         "this down as a config file)\n\n")
    text.append("Found\n", style="bold green")
    for result in report.found:
        text.append(f"  {result.probe:<9}", style="green")
        text.append(f"{result.where}: {result.summary}\n")
        for finding in result.findings:
            name = finding.table.get("name", "")
            text.append(f"      [[{finding.section}]] {name}  ", style="dim")
            text.append(f"{finding.note}\n", style="dim")
    if not report.found:
        text.append("  nothing\n", style="dim")
    text.append("\nNot found\n", style="bold yellow")
    for result in report.missing:
        text.append(f"  {result.probe:<9}", style="yellow")
        text.append(f"{result.where}: {result.missing}\n")
    if not report.missing:
        text.append("  nothing missing\n", style="dim")
    return text
