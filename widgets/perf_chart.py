"""A target's perfdata over a span as sparklines, with its status transitions marked.

Each perfdata label gets one line of bars (Textual's Sparkline, one bar per column of the
span) and a line under it: `▲` where the target's status changed, in the new status's
colour, and `·` where nothing was recorded. The bucketing is plain functions, so what a
chart shows can be checked without a screen.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from console.core.durations import clock
from console.core.loglines import printable
from console.core.model import Status
from console.transitions import Transition
from widgets.status_text import STYLE

COLUMNS = 60
SPANS = (("hour", 3600.0), ("day", 86400.0), ("month", 30 * 86400.0))


def buckets(points: Sequence[tuple[float, float]], since: float, until: float,
            width: int = COLUMNS) -> list[float | None]:
    """The mean of the points falling in each of `width` equal columns (None: no point)."""
    sums = [0.0] * width
    counts = [0] * width
    step = (until - since) / width
    for ts, value in points:
        if since <= ts <= until:
            column = min(width - 1, int((ts - since) / step))
            sums[column] += value
            counts[column] += 1
    return [sums[i] / counts[i] if counts[i] else None for i in range(width)]


def marks(changes: Sequence[Transition], since: float, until: float,
          width: int = COLUMNS) -> dict[int, Status]:
    """Column -> the status a transition in it changed to (the worst when several)."""
    step = (until - since) / width
    found: dict[int, Status] = {}
    for change in changes:
        if since <= change.ts <= until:
            column = min(width - 1, int((change.ts - since) / step))
            if column not in found or change.after.severity > found[column].severity:
                found[column] = change.after
    return found


def filled(values: Sequence[float | None]) -> list[float]:
    """Gaps drawn at the previous value (the first value before any), for the bars."""
    first = next((v for v in values if v is not None), 0.0)
    out: list[float] = []
    for value in values:
        out.append(value if value is not None else (out[-1] if out else first))
    return out


def mark_line(values: Sequence[float | None], changed: dict[int, Status]) -> Text:
    text = Text()
    for column, value in enumerate(values):
        if column in changed:
            text.append("▲", style=STYLE[changed[column]])
        else:
            text.append(" " if value is not None else "·", style="dim")
    return text


def _tick(ts: float, span: float) -> str:
    """A time on the axis: HH:MM, or MM-DD for spans longer than a day (five characters)."""
    return time.strftime("%m-%d", time.localtime(ts)) if span > 86400 else clock(ts)[:5]


class PerfChart(Vertical):
    """Every perfdata label of one target over one span."""

    DEFAULT_CSS = """
    PerfChart { height: auto; }
    PerfChart Sparkline { width: 60; height: 2; }
    PerfChart .chart-label { height: 1; }
    PerfChart .chart-marks { width: 60; height: 1; }
    """

    def __init__(self, series: dict[str, list[tuple[float, float]]],
                 changes: Sequence[Transition], since: float, until: float,
                 labels: int = 4) -> None:
        super().__init__()
        self.series = series
        self.changes = changes
        self.since = since
        self.until = until
        self.labels = labels

    def compose(self) -> ComposeResult:
        changed = marks(self.changes, self.since, self.until)
        for label, points in list(self.series.items())[:self.labels]:
            values = buckets(points, self.since, self.until)
            known = [v for v in values if v is not None]
            head = Text(printable(label, 40), style="bold")
            if known:
                head.append(f"  last {known[-1]:g}  min {min(known):g}  max {max(known):g}",
                            style="dim")
            yield Static(head, classes="chart-label")
            yield Sparkline(filled(values))
            yield Static(mark_line(values, changed), classes="chart-marks")
        if not self.series:
            yield Static(Text("no values recorded in this span yet", style="dim"))
        axis = Text(_tick(self.since, self.until - self.since), style="dim")
        axis.append(" " * (COLUMNS - 10) + _tick(self.until, self.until - self.since))
        yield Static(axis, classes="chart-marks")
