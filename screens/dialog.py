"""The base of the console's dialogs: a modal box centred over the view; escape closes it.

Their look (the box, its border and width) lives in `console.tcss` with the console's other
shared styles: each dialog puts its content in one container with the `dialog` class.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual.binding import Binding, BindingType
from textual.screen import ModalScreen

R = TypeVar("R")


class Dialog(ModalScreen[R]):
    """A modal dialog; `close_result()` is what closing it with escape answers."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "close")]

    def close_result(self) -> R | None:
        """The answer of a dialog closed without a choice (None, or False for a question)."""
        return None

    def action_close(self) -> None:
        self.dismiss(self.close_result())
