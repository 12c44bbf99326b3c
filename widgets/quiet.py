"""Updating a Static without redrawing the screen for nothing.

Textual lays the whole screen out again on every `Static.update` unless told the size cannot
change, and a layout repaints every widget on screen, a table's every cell included. These
helpers skip an update whose text is unchanged and lay out only when the number of lines
(the height of a one-line or auto-height Static) changed.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


def set_text(widget: Static, content: Text | str) -> None:
    """Show `content` in `widget` if it differs from what is shown."""
    plain = content.plain if isinstance(content, Text) else content
    shown = getattr(widget, "_quiet_plain", None)
    if shown == plain and isinstance(content, str):
        return
    if shown == plain and isinstance(content, Text) and \
            getattr(widget, "_quiet_spans", None) == (str(content.style), content.spans):
        return
    lines_before = shown.count("\n") if shown is not None else -1
    widget._quiet_plain = plain  # type: ignore[attr-defined]
    if isinstance(content, Text):
        widget._quiet_spans = (str(content.style), list(content.spans))  # type: ignore[attr-defined]
    widget.update(content, layout=plain.count("\n") != lines_before)
