"""The dialog that asks which registered Celery task to call, and with what.

It answers the options of the `call` action (task name, args, kwargs, queue); the dispatcher's
confirmation then shows exactly what will be sent, and the Actions view follows the task.
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Select, Static

from screens.dialog import Dialog


class CallTaskScreen(Dialog[dict[str, Any]]):
    """Answers {task_name, args, kwargs, queue}, or None when closed."""

    def __init__(self, target: str, registered: list[str]) -> None:
        super().__init__()
        self.target = target
        self.registered = registered

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(f"Call a registered task on {self.target}", style="bold"))
            yield Select([(name, name) for name in self.registered], prompt="task",
                         id="call-task", allow_blank=True)
            yield Input(placeholder='args as JSON, e.g. [1, "a"]  (empty: none)', id="call-args")
            yield Input(placeholder='kwargs as JSON, e.g. {"dry_run": true}  (empty: none)',
                        id="call-kwargs")
            yield Input(placeholder="queue (empty: the task's default)", id="call-queue")
            yield Static("", id="call-error")
            yield Static("tab next field · enter on the last field see what is sent · escape "
                         "cancel", classes="dialog-keys")

    def on_mount(self) -> None:
        self.query_one("#call-task", Select).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        task = self.query_one("#call-task", Select).value
        if not isinstance(task, str):
            return self._error("choose the task to call first")
        try:
            args = json.loads(self.query_one("#call-args", Input).value or "[]")
            kwargs = json.loads(self.query_one("#call-kwargs", Input).value or "{}")
        except ValueError as exc:
            return self._error(f"not JSON: {exc}")
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            return self._error("args must be a JSON list and kwargs a JSON object")
        queue = self.query_one("#call-queue", Input).value.strip()
        self.dismiss({"task_name": task, "args": args, "kwargs": kwargs, "queue": queue})

    def _error(self, message: str) -> None:
        self.query_one("#call-error", Static).update(Text(message, style="bold red"))
