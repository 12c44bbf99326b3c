"""Messages the console app posts to itself: new poll results, action progress, silences."""

from __future__ import annotations

from textual.message import Message

from console.core.model import PollResult
from console.dispatcher import ActionRun


class PollUpdated(Message):
    def __init__(self, result: PollResult) -> None:
        super().__init__()
        self.result = result


class ActionChanged(Message):
    def __init__(self, run: ActionRun) -> None:
        super().__init__()
        self.run = run


class SilencesChanged(Message):
    """The silences or maintenance windows a view shows have changed."""
