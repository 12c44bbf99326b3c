"""The dialog that asks which release to deploy; the plan itself is shown by the confirmation."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.markup import escape
from textual.widgets import Input, Static

from backends.deploy.git import GitError, check_revision
from screens.dialog import Dialog


class ReleaseScreen(Dialog[str]):
    """Answers the revision typed (a tag, commit or branch), or None when closed."""

    def __init__(self, deploy: str, current: str) -> None:
        super().__init__()
        self.deploy = deploy
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"[b]Deploy a release to {escape(self.deploy)}[/b]")
            yield Static(f"\nDeployed now: {escape(self.current)}\nRelease to deploy (fetched "
                         "from the remotes first):")
            yield Input(placeholder="a tag, commit or branch: v1.4.2", id="release")
            yield Static("", id="release-error")
            yield Static("enter see the plan · escape cancel", classes="dialog-keys")

    def on_mount(self) -> None:
        self.query_one("#release", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        rev = event.value.strip()
        try:
            check_revision(rev)
        except GitError as exc:
            self.query_one("#release-error", Static).update(f"[red]{escape(str(exc))}[/]")
            return
        self.dismiss(rev)
