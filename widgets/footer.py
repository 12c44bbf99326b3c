"""A footer that never cuts a key in half: what does not fit is left to `?`.

The screen's keys are shown in their order while they fit the width; when some do not,
the last ones give way (help and quit stay), and `?` says there are more. Every key still
works, and `?` lists them all. The palette key shows only when there is room for it.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

_KEPT = ("help", "quit")  # actions that stay however narrow the terminal is


class FittedFooter(Footer):
    """Textual's footer, with as many keys as fit and `? more` for the rest."""

    def __init__(self) -> None:
        super().__init__(compact=True)
        self._width = 0

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._width:
            self._width = event.size.width
            self.call_after_refresh(self.recompose)

    @staticmethod
    def _cost(key: str, description: str) -> int:
        return len(key) + len(description) + 2  # compact: " key description"

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        active = self.screen.active_bindings
        width = self.size.width or self.app.size.width
        seen: set[str] = set()
        shown: list[tuple[Binding, bool, str]] = []
        for _node, binding, enabled, tooltip in active.values():
            if binding.show and binding.action not in seen:
                seen.add(binding.action)
                shown.append((binding, enabled, tooltip))
        palette = active.get(self.app.COMMAND_PALETTE_BINDING) \
            if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE else None

        def cost(items: list[tuple[Binding, bool, str]]) -> int:
            return sum(self._cost(self.app.get_key_display(b), b.description) for b, _, _ in items)

        dropped = False
        more = len("more keys") - len("help")
        while shown and cost(shown) + (more if dropped else 0) > width:
            optional = [i for i, (b, _, _) in enumerate(shown) if b.action not in _KEPT]
            if not optional:
                break
            del shown[optional[-1]]
            dropped = True
        for binding, enabled, tooltip in shown:
            description = binding.description
            if dropped and binding.action == "help":
                description = "more keys"
            yield FooterKey(binding.key, self.app.get_key_display(binding), description,
                            binding.action, disabled=not enabled,
                            tooltip=tooltip).data_bind(compact=Footer.compact)
        if palette is not None and cost(shown) + 14 <= width:
            _node, binding, enabled, tooltip = palette
            yield FooterKey(binding.key, self.app.get_key_display(binding), binding.description,
                            binding.action, classes="-command-palette", disabled=not enabled,
                            tooltip=binding.tooltip or binding.description)
