"""The full-screen console: drives a Session and feeds the views.

Views are Textual modes, created the first time they are shown. Poll results arrive from the
Session's poller as messages; only the view on screen is redrawn, at most ten times a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import os
import signal
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from rich.errors import MarkupError as RichMarkupError
from rich.text import Text
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.markup import MarkupError
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Static

from backends.base import Backend
from console import registry
from console.config import Config
from console.core.actions import ActionSpec
from console.core.durations import clock
from console.core.errors import ConsoleError
from console.core.loglines import printable
from console.core.model import CheckResult, PollResult
from console.core.scrub import scrub_text
from console.dispatcher import ActionRun
from console.fleet.monitor import FleetMonitor
from console.session import Session
from screens.base import ConsoleScreen
from screens.messages import ActionChanged, PollUpdated, SilencesChanged
from widgets.topbar import TopBar

VIEWS = registry.views()

_REDRAW_DELAY = 0.1
# A view is redrawn at most this often however fast results change (a crash loop signals
# every restart); a person reads no faster.
MIN_REDRAW_GAP = 1.0
DETAIL_REFRESH = 10.0  # seconds between redraws of the view on screen when no check changed
QUIT_BOUND = 0.5  # seconds `q` may wait for backends to close before the terminal is back
_FLEET_REDRAW_DELAY = 1.0  # twenty hosts' polls need not redraw ten times a second
LOCAL_KEY, NEXT_HOST_KEY = "L", "N"  # with a fleet: this machine again, the next host


DISPLAY_ERRORS = (MarkupError, RichMarkupError)


def markup_literal(text: str) -> str:
    """Markup that shows exactly `text`: every `[` escaped (the palette parses its entries,
    and textual.markup.escape leaves some, such as a final `[/`, unescaped)."""
    return text.replace("[", "\\[")


class OpsConsoleApp(App[int]):
    TITLE = "opsconsole"
    CSS_PATH = "console.tcss"  # the console's shared styles: views, tables, dialogs
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(v.key, f"show_view('{v.name}')", v.title, show=False) for v in VIEWS if v.key),
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("r", "refresh_now", "refresh"),
        Binding("q", "quit", "quit"),
    ]
    ENABLE_COMMAND_PALETTE = True

    def __init__(self, config: Config, *, read_only: bool = False,
                 backends: list[Backend[Any]] | None = None,
                 session: Session | None = None) -> None:
        super().__init__()
        self.session = session or Session(config, read_only=read_only, backends=backends)
        self.local_session = self.session  # this machine; `session` is the host on screen
        self._hosts: dict[str, Session] = {}  # fleet hosts opened so far, as Sessions
        self.config = self.session.config
        self.session.on_poll(self._poll_published)
        self.session.on_action(self._action_changed)
        self.session.on_silences(self._silences_changed)
        self._redraw_pending = False
        self._last_redraw = 0.0
        self._shown_complete = False  # the last redraw had every backend's first result
        self._display_errors: set[str] = set()
        for view in VIEWS:
            self.add_mode(view.name, functools.partial(self._make_screen, view.name))
        if config.discovery is not None:
            self.bind("D", "discovery", description="discovery")
        self.fleet: FleetMonitor | None = None
        if config.fleet is not None and config.fleet.hosts:
            from console.fleet.monitor import FleetMonitor

            self.fleet = FleetMonitor(
                config.fleet, self.session.identity,
                on_change=lambda host: self._schedule_redraw(_FLEET_REDRAW_DELAY),
                connect_timeout=config.fleet.settings.deadline or config.console.deadline)
            self.bind(registry.FLEET_KEY, f"show_view('{registry.FLEET.name}')",
                      description="fleet")
            self.bind(LOCAL_KEY, "local_host", description="this machine")
            self.bind(NEXT_HOST_KEY, "next_host", description="next host")

    @property
    def read_only(self) -> bool:
        return self.session.read_only

    def _action_changed(self, run: ActionRun) -> None:
        self.post_message(ActionChanged(run))

    def _silences_changed(self) -> None:
        self.post_message(SilencesChanged())  # safe from the thread that read them

    def _poll_published(self, result: PollResult, changed: bool) -> None:
        # A poll that changed no check redraws nothing, except that the view on screen
        # catches up on details outside the checks (memory, CPU) every DETAIL_REFRESH.
        if changed or time.monotonic() - self._last_redraw >= DETAIL_REFRESH:
            self.post_message(PollUpdated(result))

    # -- errors ---------------------------------------------------------------------------
    def _handle_exception(self, error: Exception) -> None:
        """A widget that cannot draw some text is reported, never the end of the console.

        Server text is rendered as plain Text everywhere; this is the net under that rule:
        a markup error (the only way text breaks rendering) becomes one notification.
        """
        if isinstance(error, DISPLAY_ERRORS):
            self._show_as_text()
            message = scrub_text(f"could not display some text: {error}")[:300]
            if message not in self._display_errors:
                self._display_errors.add(message)
                self.notify(message, title="Display", severity="error", markup=False)
            return
        super()._handle_exception(error)

    def _show_as_text(self) -> None:
        """Give every Static whose markup does not parse its content as plain text."""
        for screen in self.screen_stack:
            for widget in screen.query(Static):
                try:
                    widget.visual  # noqa: B018  (parsing happens on first access)
                except DISPLAY_ERRORS:
                    widget.update(Text(scrub_text(str(widget.content))))

    # -- start and stop -------------------------------------------------------------------
    async def on_mount(self) -> None:
        first = "services" if self.config.services else "overview"
        self.session.show_details(first)
        await self.switch_mode(first)
        self.session.start()
        if self.fleet is not None:
            self.fleet.start()
        for warning in self.config.warnings:
            self.notify(warning, title="Config", severity="warning", timeout=20, markup=False)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.exit)
        loop.add_signal_handler(signal.SIGHUP, self._hang_up)

    def _hang_up(self) -> None:
        """The terminal went away (SSH drop): leave at once instead of spinning.

        Drawing to a terminal that is gone can block Textual's writer for good, so the
        console does not shut down through it: running actions are cancelled (the dispatcher
        records them as interrupted) and the process ends.
        """
        async def leave() -> None:
            self.workers.cancel_group(self, "actions")
            with contextlib.suppress(Exception):
                async with asyncio.timeout(3):
                    await self.local_session.stop()
            os._exit(129)

        asyncio.get_running_loop().create_task(leave())

    async def on_unmount(self) -> None:
        for host in self._hosts.values():
            host.leave()
        if self.fleet is not None:
            await self.fleet.stop()
        await self.local_session.stop(bound=QUIT_BOUND)

    # -- hosts --------------------------------------------------------------------------
    def open_host(self, name: str) -> None:
        """Show fleet host `name` in every view, from its Overview."""
        if self.fleet is None or name not in self.fleet.hosts:
            return
        if name not in self._hosts:
            from console.fleet.remote_session import RemoteSession

            remote = RemoteSession(self.fleet.hosts[name], self.local_session)
            remote.on_poll(self._poll_published)
            remote.on_action(self._action_changed)
            remote.on_silences(self._silences_changed)
            remote.on_rebuilt(lambda: self._show_session(remote, self.current_mode))
            self._hosts[name] = remote
        self._show_session(self._hosts[name], registry.OVERVIEW.name)

    def action_local_host(self) -> None:
        """Back to this machine's Overview."""
        self._show_session(self.local_session, registry.OVERVIEW.name)

    def action_next_host(self) -> None:
        """The next fleet host in the Fleet view's order (this machine after the last)."""
        if self.fleet is None:
            return
        names = sorted(self.fleet.hosts)
        current = self.session.host if self.session is not self.local_session else None
        later = [n for n in names if current is None or n > current]
        if later:
            self.open_host(later[0])
        else:
            self.action_local_host()

    def _show_session(self, session: Session, view: str) -> None:
        self.run_worker(self._switch_session(session, view), group="hosts", exclusive=True,
                        exit_on_error=False)

    async def _switch_session(self, session: Session, view: str) -> None:
        """Every view shows `session` from now on: the views are made anew for it."""
        if session is not self.session:
            self.session.leave()
            self.session = session
        fleet = registry.FLEET.name
        if self.current_mode != fleet:
            await self.switch_mode(fleet)
        for name in [v.name for v in VIEWS if v.name != fleet]:
            await self.remove_mode(name)
            self.add_mode(name, functools.partial(self._make_screen, name))
        if view != fleet:
            session.show_details(view)
            await self.switch_mode(view)
        self._schedule_redraw()

    # -- views ----------------------------------------------------------------------------
    def _make_screen(self, name: str) -> Screen[None]:
        from screens.placeholder import PlaceholderScreen

        view = registry.view_by_name(name)
        assert view is not None
        sections = registry.sections_of_view(name)
        configured = any(s in self.session.config.sections for s in sections) or any(
            b.kind in sections for b in self.session.backends)
        if name == registry.SERVICES.name and not self.config.services:
            return PlaceholderScreen(name, f"No services configured: {view.hint} "
                                           f"in {self.config.display_path}.")
        if name == registry.LOGS.name:
            configured = bool(self.session.log_backends())
            sections = ("logs",)
        if sections and not configured:
            where = (self.config.display_path if self.session is self.local_session
                     else f"{self.session.host}'s config")
            return PlaceholderScreen(name, f"Nothing configured for this view: {view.hint} "
                                           f"in {where}.")
        module_name, _, class_name = view.screen.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            return PlaceholderScreen(name, "This view is not available in this installation.")
        screen: Screen[None] = getattr(module, class_name)()
        return screen

    async def action_show_view(self, name: str) -> None:
        if self.current_mode != name:
            self.session.show_details(name)
            await self.switch_mode(name)

    def show_view_for(self, target: str) -> None:
        self.run_worker(self.action_show_view(self.session.view_for(target).name))

    def action_help(self) -> None:
        from screens.help import HelpScreen

        views = ", ".join(f"{v.key} {v.title}" for v in VIEWS if v.key)
        view_keys = "0-9" + "".join(f", {v.key}" for v in VIEWS if v.key and not v.key.isdigit())
        fleet = [(registry.FLEET_KEY, "the Fleet view: every host"),
                 (LOCAL_KEY, "this machine"), (NEXT_HOST_KEY, "next host")] if self.fleet else []
        sections = [("Everywhere", [(view_keys, f"switch view: {views}"), *fleet,
                                    *self._describe(self.BINDINGS),
                                    ("z", "silence the selected row's target, or start a "
                                          "maintenance window (palette: Silences)")])]
        base = self._base_screen()
        if base is not None:
            title = registry.view_by_name(base.view_name)
            keys = self._describe(type(self.focused).BINDINGS) if self.focused else []
            keys += self._describe(type(base).BINDINGS)
            keys += self._describe(ConsoleScreen.BINDINGS) if type(base) is not ConsoleScreen \
                else []
            sections.append((f"In {title.title if title else 'this view'}", _unique(keys)))
        sections.append(("In dialogs", [("escape", "close or cancel"),
                                        ("tab", "next field or button")]))
        self.push_screen(HelpScreen(sections))

    @staticmethod
    def _describe(bindings: Iterable[BindingType]) -> list[tuple[str, str]]:
        keys = []
        for binding in bindings:
            if isinstance(binding, Binding) and binding.description and binding.show:
                keys.append((binding.key_display or binding.key, binding.description))
        return keys

    def _base_screen(self) -> ConsoleScreen | None:
        for screen in reversed(self.screen_stack):
            if isinstance(screen, ConsoleScreen):
                return screen
        return None

    # -- poll results ---------------------------------------------------------------------
    def on_poll_updated(self, message: PollUpdated) -> None:
        self._schedule_redraw()

    def on_silences_changed(self, message: SilencesChanged) -> None:
        self._schedule_redraw()  # the header and the dimmed rows show them

    def on_action_changed(self, message: ActionChanged) -> None:
        run: ActionRun = message.run
        if run.state in ("ok", "failed", "refused") and run.outcome is not None:
            severity: SeverityLevel = {"ok": "information", "failed": "error"}.get(
                run.state, "warning")  # type: ignore[assignment]
            self.notify(run.outcome.message, title=run.spec.title, severity=severity,
                        timeout=8 if run.state == "ok" else 15, markup=False)
        self._schedule_redraw()

    def _schedule_redraw(self, delay: float = _REDRAW_DELAY) -> None:
        if not self._redraw_pending:
            self._redraw_pending = True
            # until the screen has shown every backend's first result, each one shows at
            # once: it is complete as soon as the slowest backend answered, not a gap later
            gap = MIN_REDRAW_GAP if self._shown_complete else 0.0
            since = time.monotonic() - self._last_redraw
            self.set_timer(max(delay, gap - since), self._redraw)

    def _redraw(self) -> None:
        self._redraw_pending = False
        self._last_redraw = time.monotonic()
        self._shown_complete = self.session.board.complete
        screen = self._base_screen()
        if screen is not None and screen.is_mounted:
            with contextlib.suppress(NoMatches):  # a screen taken apart as the console quits
                screen.refresh_all()

    # -- state for the views --------------------------------------------------------------
    def paint_topbar(self, bar: TopBar) -> None:
        identity = self.session.identity
        who = identity.user + (f" via {identity.client}" if identity.client else "")
        host = self.fleet.hosts.get(self.session.host) if self.fleet is not None and \
            self.session is not self.local_session else None
        if host is not None:
            group = f", group {host.entry.group}" if host.entry.group else ""
            who = f"{host.remote_name or host.entry.ssh} via ssh{group}"
        bar.show(host=f"{self.session.host} ({who})", read_only=self.read_only,
                 counts=self.session.counts(), polled=clock(self.session.board.last_poll),
                 title=self.config.console.title, maintenance=self.session.maintenance_note)

    def action_discovery(self) -> None:
        from screens.discovery import DiscoveryScreen

        if self.config.discovery is not None:
            self.push_screen(DiscoveryScreen(self.config.discovery))

    def notice_text(self) -> str:
        notice = getattr(self.session, "notice", None)
        if callable(notice):  # a fleet host: unreachable, connecting, waiting
            return str(notice())
        report = self.config.discovery
        if report is not None:
            looked = ", ".join(str(p) for p in self.config.searched)
            missing = "; ".join(f"{r.probe}: {r.missing}" for r in report.missing)
            head = ("No config file found (looked in " + looked + "): " if self.config.path
                    is None and self.config.console.title.endswith("(discovered)")
                    else "Discovery (--discover): ")
            return (f"{head}every target below was DISCOVERED on this host in "
                    f"{report.elapsed:.1f}s. Not found: {missing or 'nothing'}. "
                    "D shows the Discovery panel; `opsconsole init` writes this as a config "
                    "file (see opsconsole --help); `sudo opsconsole demo` shows every view on "
                    "a throwaway local stack.")
        if self.config.path is None:
            looked = ", ".join(str(p) for p in self.config.searched)
            return (f"No config file found (looked in {looked}); showing this host only. "
                    "Write one (see opsconsole --help and the README) or pass --config PATH.")
        if not len(self.session.board):
            return "Waiting for the first poll..."
        return ""

    # -- actions --------------------------------------------------------------------------
    def open_deploy(self, target: str) -> None:
        """The `D` key on the Deploy view: ask for the release, then confirm its full plan."""
        from screens.release import ReleaseScreen

        current = "?"
        for polled in self.session.polled_kind("deploy"):
            snapshot = polled.snapshot
            if f"deploy:{polled.backend.name}" == target and snapshot is not None:
                current = f"{snapshot.current.short} {snapshot.current.subject}"

        def chosen(rev: str | None) -> None:
            if rev:
                self.run_worker(self._deploy(target, rev), group="actions", exit_on_error=False)

        self.push_screen(ReleaseScreen(target, current), chosen)

    async def _deploy(self, target: str, rev: str) -> None:
        """Confirm the deploy of `rev` as the system offers it for that release."""
        try:
            offered = await self.session.offered(target, {"to": rev})
        except ConsoleError as exc:
            self.notify(str(exc), title=f"Deploy {rev}", severity="error", markup=False)
            return
        spec = next((s for s in offered if s.verb == "deploy"), None)
        if spec is None:
            self.notify(f"{target} cannot be deployed yet (waiting for its first poll).",
                        severity="warning")
            return
        self.start_action(spec)

    def open_action_menu(self, target: str) -> None:
        from screens.details import ActionMenuScreen

        specs = self.session.actions_for(target)
        if not specs:
            self.notify(f"No actions for {target}.", severity="warning")
            return
        choices = [(spec, self.session.refusal(spec)) for spec in specs]

        def chosen(spec: ActionSpec | None) -> None:
            if spec is not None:
                self.start_action(spec)

        self.push_screen(ActionMenuScreen(target, choices), chosen)

    def open_details(self, check: CheckResult) -> None:
        from screens.details import CheckDetailsScreen

        view = self.session.board.owner(check.key)
        error = view.result.error if view and view.result else None
        polled = self.session.board.polled_at(check.key)
        self.push_screen(CheckDetailsScreen(check, error, clock(polled) if polled else "-"))

    def run_verb(self, target: str, verb: str) -> None:
        """Start the action `verb` on `target` (from a key such as R restart)."""
        spec = next((s for s in self.session.actions_for(target) if s.verb == verb), None)
        if spec is None:
            self.notify(f"{target} has no '{verb}' action.", severity="warning")
            return
        self.start_action(spec)

    def start_action(self, spec: ActionSpec, *, confirmed: bool = False) -> None:
        """Run an action through the dispatcher; `confirmed` when a dialog already asked."""
        refusal = self.session.refusal(spec)
        if refusal:
            self.notify(refusal, title=spec.title, severity="warning")
            return
        self.run_worker(self._dispatch(spec, confirmed), group="actions", exit_on_error=False)

    async def _dispatch(self, spec: ActionSpec, confirmed: bool = False) -> None:
        await self.session.run_action(spec, _yes if confirmed else self._confirm)
        await asyncio.to_thread(self.session.refresh_silences)
        self._schedule_redraw()

    # -- silences and maintenance ---------------------------------------------------------
    def open_silence(self, target: str) -> None:
        """The `z` key: silence a target, or start a maintenance window that stops it."""
        from screens.silence import SilenceRequest, SilenceScreen

        can_stop = any(s.verb == "stop" for s in self.session.actions_for(target))

        def chosen(request: SilenceRequest | None) -> None:
            if request is None:
                return
            verb = "maintenance" if request.maintenance else "silence"
            try:
                spec = self.session.console_action(request.target, verb, {
                    "seconds": request.seconds, "reason": request.reason, "stop": True})
            except ConsoleError as exc:
                self.notify(str(exc), severity="error", markup=False)
                return
            if spec is not None:  # the dialog confirmed a silence; a window that stops asks
                self.start_action(spec, confirmed=not request.maintenance)

        self.push_screen(SilenceScreen(target, can_stop), chosen)

    def action_silences(self) -> None:
        from screens.silence import SilencesScreen

        self.push_screen(SilencesScreen(self.session.active_silences,
                                        self.session.active_windows))

    def _silence_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Silences", "the active silences and maintenance windows",
                            self.action_silences)
        for silence in self.session.active_silences:
            spec = self.session.console_action(silence.pattern, "unsilence", {})
            if spec is not None:
                yield SystemCommand(f"Unsilence {silence.pattern}",
                                    printable(silence.describe()),
                                    lambda s=spec: self.start_action(s, confirmed=True))
        for window in self.session.active_windows:
            spec = self.session.console_action(" ".join(window.targets), "maintenance-end", {})
            if spec is not None:
                yield SystemCommand(f"End maintenance {' '.join(window.targets)}", spec.effect,
                                    lambda s=spec: self.start_action(s))

    async def _confirm(self, spec: ActionSpec) -> bool:
        from screens.confirm import ConfirmScreen

        answer: bool = await self.push_screen_wait(ConfirmScreen(spec))  # type: ignore[arg-type]
        return bool(answer)

    def action_refresh_now(self) -> None:
        self.session.poll_now()
        self.notify("Refreshing every backend.", timeout=2)

    # -- command palette ------------------------------------------------------------------
    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        for view in VIEWS:
            key = f" (key {view.key})" if view.key else ""
            yield SystemCommand(f"Go to {view.title}", f"show the {view.title} view{key}",
                                lambda n=view.name: self.run_worker(self.action_show_view(n)))
        yield SystemCommand("Refresh now", "poll every backend at once", self.action_refresh_now)
        for host in self.fleet.hosts.values() if self.fleet is not None else []:
            yield SystemCommand(f"Open host {host.name}", f"every view on fleet host "
                                f"{host.name} ({host.entry.ssh})",
                                lambda n=host.name: self.open_host(n))
        if self.fleet is not None:
            yield SystemCommand("This machine", f"every view on {self.local_session.host} "
                                f"again (key {LOCAL_KEY})", self.action_local_host)
        yield SystemCommand("Help", "every key binding", self.action_help)
        for target in self.session.targets():
            for spec in self.session.actions_for(target):
                refusal = self.session.refusal(spec)
                # the palette parses its titles as markup: server text is escaped for it
                yield SystemCommand(
                    markup_literal(scrub_text(f"{spec.verb.capitalize()} {target}")),
                    markup_literal(refusal or spec.effect), lambda s=spec: self.start_action(s))
        for target in self.session.targets():
            if target.startswith("deploy:"):
                yield SystemCommand(markup_literal(f"Deploy a release to {target}"),
                                    "choose a tag, commit or branch, see the plan, confirm",
                                    lambda t=target: self.open_deploy(t))
        yield from self._silence_commands()
        yield SystemCommand("Quit", "leave opsconsole", self.exit)


async def _yes(spec: ActionSpec) -> bool:
    return True


def _unique(keys: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: set[str] = set()
    out = []
    for key, text in keys:
        if key not in seen:
            seen.add(key)
            out.append((key, text))
    return out


def run_tui(config: Config, *, read_only: bool) -> int:
    """Run the console until the user quits; returns the process exit code."""
    app = OpsConsoleApp(config, read_only=read_only)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    threads = ThreadPoolExecutor(thread_name_prefix="asyncio")  # what to_thread calls run in
    loop.set_default_executor(threads)
    # Not asyncio.run(): it would wait for every thread still blocked on a hung server.
    app.run(loop=loop)
    # Not loop.shutdown_default_executor() either: cancelled, it still joins its threads.
    # Idle threads end at once; one stuck in a library call on a hung server is left to the
    # end of the process, which console.cli.main brings about without waiting for it (and a
    # caller such as the demo still gets to clean up first).
    threads.shutdown(wait=False, cancel_futures=True)
    return app.return_code or 0
