"""Nothing a server sends reaches the terminal raw, and no server text is parsed as markup.

Each hostile string goes through a real source (a plugin's output, a git commit subject, a
Celery task's exception) and must come out of `check`, `status` and the TUI escaped.
"""

from __future__ import annotations

import asyncio
import enum
import json
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from console.config import parse_config
from console.core.scrub import CUT, DEEPEST, printable_text, scrub
from console.core.secrets import Redactor
from console.poller import BackendState, poll_once
from console.session import Session
from tests.conftest import OPSCONSOLE
from tests.test_celery_backend import (  # noqa: F401  (module fixtures: a real Redis + worker)
    config_text,
    load,
    redis_server,
    sender,
    worker,
)

# (name, what a server sends, what must be shown instead)
HOSTILE = [
    ("csi clear screen", "a\x1b[2Jb", "a\\x1b[2Jb"),
    ("osc title change", "\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),
    ("bell", "ding\x07", "ding\\x07"),
    ("carriage return", "CRITICAL\rOK      ", "CRITICAL\\rOK      "),
    ("c1 csi", "x\x9b31my", "x\\x9b31my"),
    ("right-to-left override", "abc\u202edef", "abc\\u202edef"),
    ("unmatched markup", "@[/ [unclosed", "@[/ [unclosed"),
]
RAW_CONTROLS = [chr(c) for c in range(32) if chr(c) not in "\n"] + ["\x7f", "\x9b", "\u202e"]


def raw_controls(text: str) -> list[str]:
    return [c for c in RAW_CONTROLS if c in text]


@pytest.mark.parametrize(("name", "sent", "shown"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_funnel_escapes_each_hostile_string(name: str, sent: str, shown: str) -> None:
    assert printable_text(sent) == shown
    redactor = Redactor()
    redactor.add("s3cret-pw")
    nested = {"k" + sent: [("s3cret-pw" + sent,)]}
    assert scrub(nested, redactor) == {"k" + shown: [("***" + shown,)]}


@dataclass(frozen=True)
class _Row:
    name: str
    lines: tuple[str, ...]
    tags: frozenset[str]


@dataclass(frozen=True)
class _Snapshot:
    rows: tuple[_Row, ...]
    counts: dict[str, int]


class _Level(enum.StrEnum):
    HIGH = "high"


class _Named(str):
    """A str type of a library's own."""


@dataclass
class _Mutable:
    note: str


@pytest.mark.parametrize(("name", "sent", "shown"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_a_snapshot_is_escaped_wherever_the_string_sits(name: str, sent: str,
                                                        shown: str) -> None:
    clean = _Row("web", ("line one\tcol\nline two",), frozenset({"a"}))
    for hostile, expect in (
            (_Row(sent, (), frozenset()), _Row(shown, (), frozenset())),
            (_Row("x", ("ok", sent), frozenset()), _Row("x", ("ok", shown), frozenset())),
            (_Row("x", (), frozenset({sent})), _Row("x", (), frozenset({shown})))):
        snapshot = _Snapshot((clean, hostile), {sent: 1})
        scrubbed = scrub(snapshot)
        assert scrubbed == _Snapshot((clean, expect), {shown: 1})
        assert type(scrubbed.rows[1]) is _Row
        assert snapshot.rows[1] == hostile and sent in snapshot.counts  # the original kept
    assert scrub(clean) is clean  # nothing to escape (tabs and newlines are kept): not copied
    assert scrub(b"raw" + sent.encode()) == "raw" + shown
    assert scrub(Path("/srv/app")) == Path("/srv/app")
    assert scrub(("naïve\tcol\nnext" + sent,)) == ("naïve\tcol\nnext" + shown,)  # with a control
    assert scrub(_Level.HIGH) is _Level.HIGH  # a str enum stays itself
    assert scrub(_Named(sent)) == shown  # another str type is escaped all the same
    mutable = _Mutable("fine")
    copied = scrub(mutable)
    copied.note = "changed"
    assert mutable.note == "fine"  # a mutable dataclass is always a copy


class _Pair(NamedTuple):
    inner: object
    other: int


@dataclass(frozen=True)
class _Box:
    inner: object


NESTINGS: list[tuple[str, Callable[[object], object], Callable[[Any], Any]]] = [
    ("list", lambda v: [v], lambda v: v[0]),
    ("tuple", lambda v: (v,), lambda v: v[0]),
    ("frozenset", lambda v: frozenset({v}), lambda v: next(iter(v))),
    ("dict", lambda v: {"k": v}, lambda v: v["k"]),
    ("named tuple", lambda v: _Pair(v, 1), lambda v: v.inner),
    ("dataclass", _Box, lambda v: v.inner),
]


@pytest.mark.parametrize(("kind", "wrap", "unwrap"), NESTINGS, ids=[n[0] for n in NESTINGS])
def test_nesting_is_escaped_to_its_depth_then_cut_off(
        kind: str, wrap: Callable[[object], object], unwrap: Callable[[Any], Any]) -> None:
    for levels in (DEEPEST, DEEPEST + 5):
        value: object = "bell\x07"
        for _ in range(levels):
            value = wrap(value)
        found = scrub(value)
        for _ in range(min(levels, DEEPEST + 1)):
            found = unwrap(found)
        # every string within reach is escaped; past it nothing raw, whatever the nesting
        assert found == ("bell\\x07" if levels <= DEEPEST else CUT), (kind, levels)


def test_a_cycle_is_cut_off() -> None:
    loop: list[object] = ["ding\x07"]
    loop.append(loop)
    found: Any = scrub(loop)
    for _ in range(DEEPEST):
        assert found[0] == "ding\\x07"
        found = found[1]
    assert found[1] == CUT


def plugin(tmp_path: Path, line: str) -> Path:
    """A monitoring plugin that prints `line` (control bytes and all) as its status."""
    script = tmp_path / f"check_{uuid.uuid4().hex[:6]}"
    script.write_bytes(b"#!/bin/sh\nprintf '%s\\n' \"$1\"\nprintf 'detail %s\\n' \"$1\"\nexit 1\n")
    script.chmod(0o755)
    return script


@pytest.mark.parametrize(("name", "sent", "shown"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_plugin_output_is_escaped_in_check_and_status(
        name: str, sent: str, shown: str, tmp_path: Path,
        write_config: Callable[..., Path], cli_env: dict[str, str]) -> None:
    script = plugin(tmp_path, sent)
    config = write_config(f"[[command]]\nname = 'hostile'\n"
                          f"command = ['{script}', {json.dumps('WARNING - ' + sent)}]\n")

    def run(*args: str) -> str:
        done = subprocess.run([*OPSCONSOLE, "--config", str(config), "--headless", *args],
                              env=cli_env, capture_output=True, text=True, timeout=60)
        assert done.returncode in (0, 1), done.stderr
        return done.stdout

    # a plugin's output is split into lines at a carriage return, as monitoring plugins are
    shown = shown.split("\\r")[0]
    text = run("check")
    assert raw_controls(text) == [], repr(text)
    assert f"WARNING command:hostile - WARNING - {shown}" in text
    document = json.loads(run("check", "--format", "json"))
    check = document["checks"][0]
    assert check["summary"].startswith(f"WARNING - {shown}")
    assert raw_controls(check["summary"] + check["details"]) == []
    status = json.loads(run("status", "--format", "json"))
    assert raw_controls(json.dumps(status, ensure_ascii=False)) == []
    assert f"WARNING - {shown}" in status[0]["summaries"]["command:hostile"]
    assert raw_controls(run("status")) == []


def test_commit_subject_and_author_are_escaped_in_the_deploy_snapshot(tmp_path: Path) -> None:
    repo = tmp_path / "app"
    repo.mkdir()

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                       timeout=30)

    git("init", "-q", "-b", "main")
    git("config", "user.email", "x@example.com")
    git("config", "user.name", "Eve\x1b]0;owned\x07")
    (repo / "f").write_text("1")
    git("add", "-A")
    git("commit", "-q", "-m", "release \x1b[2J\x1b]0;pwned\x07 [unclosed")
    config = parse_config(f'[[deploy]]\nname = "app"\nrepo = "{repo}"\n', Path("c.toml"))
    session = Session(config)

    async def poll() -> Any:
        try:
            return await poll_once(session.backends[0], BackendState(), config.redactor)
        finally:
            await session.close_backends()

    result = asyncio.run(poll())
    assert result.error is None, result.error
    head = result.snapshot.current
    assert head.subject == "release \\x1b[2J\\x1b]0;pwned\\x07 [unclosed"
    assert head.author.startswith("Eve\\x1b]0;owned") and raw_controls(head.author) == []


async def test_failed_task_with_markup_and_escapes_opens_without_crashing(
        worker: Any, sender: Any, state_dir: Path, redis_server: Any) -> None:  # noqa: F811
    from textual.widgets import Static

    from screens.app import OpsConsoleApp
    from screens.celery import CeleryScreen, FailedTaskScreen
    from widgets.live_table import LiveTable

    message = f"bad @[/ [unclosed \x1b]0;pwned\x07 {uuid.uuid4().hex[:8]}"
    failed = sender.send_task("testbed.fail", args=[message])
    app = OpsConsoleApp(load(config_text(redis_server, extra="expect_workers = 1"), state_dir))
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        assert isinstance(app.screen, CeleryScreen)
        await pilot.press("f")
        table = app.screen.query_one("#failed-table", LiveTable)
        key = f"app|{failed.id}"
        deadline = time.monotonic() + 20
        while key not in table._order and time.monotonic() < deadline:
            await pilot.pause(0.2)
        assert key in table._order
        table.move_cursor(row=table._order.index(key))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, FailedTaskScreen)
        await pilot.pause(0.3)
        detail = str(app.screen.query_one("#failed-detail", Static).render())
        assert "bad @[/ [unclosed \\x1b]0;pwned\\x07" in detail
        assert "\x1b" not in detail
        assert app.is_running and app.return_code is None
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, CeleryScreen)


HOSTILE_KEY = "jobs:[@click=app.quit]x\x1b]0;pwned\x07[/"


async def test_a_hostile_redis_key_in_the_palette_is_text(scratch_redis: Any) -> None:
    import redis

    from screens.app import OpsConsoleApp
    from screens.queues import QueuesScreen
    from widgets.live_table import LiveTable

    client = redis.Redis.from_url(scratch_redis.url_for(0))
    client.rpush(HOSTILE_KEY, "job")
    client.close()
    config = parse_config(f'[[redis]]\nname = "r"\nurl = "{scratch_redis.url_for(0)}"\n'
                          'discover = "jobs:*"\n', Path("c.toml"))
    app = OpsConsoleApp(config)
    shown_key = "jobs:[@click=app.quit]x\\x1b]0;pwned\\x07[/"
    async with app.run_test(size=(160, 40)) as pilot:
        for _ in range(100):
            await pilot.pause(0.1)
            if any("jobs:" in t for t in app.session.targets()):
                break
        commands = [f"{c.title} {c.help}" for c in app.get_system_commands(app.screen)
                    if "jobs:" in c.title]
        print(commands)
        assert commands and all("\x1b" not in c for c in commands)
        await pilot.press("ctrl+p", *"jobs")
        await pilot.pause(0.5)
        assert app.is_running and app.return_code is None
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("3")
        await pilot.pause(0.5)
        assert isinstance(app.screen, QueuesScreen)
        table = app.screen.query_one(LiveTable)
        rows = " ".join(str(c) for i in range(table.row_count) for c in table.get_row_at(i))
        assert shown_key in rows and "\x1b" not in rows
        assert app.is_running and app.return_code is None


def test_postgres_query_text_of_any_database_user_is_escaped(shared_pg_dsn: str) -> None:
    import psycopg

    marker = f"octest-{uuid.uuid4().hex[:8]}"
    # left idle in its transaction, so the Database view lists it with its last query
    conn = psycopg.connect(shared_pg_dsn)
    conn.execute(f"SELECT 1 /* {marker} \x1b]0;pwned\x07 [/ */")
    config = parse_config(f'[[postgres]]\nname = "db"\ndsn = "{shared_pg_dsn}"\n', Path("c.toml"))
    session = Session(config)

    async def poll_until_seen() -> Any:
        try:
            for _ in range(50):
                result = await poll_once(session.backends[0], BackendState(), config.redactor)
                found = [s for s in (result.snapshot.sessions if result.snapshot else ())
                         if marker in s.query]
                if found:
                    return found[0]
                await asyncio.sleep(0.2)
            return None
        finally:
            await session.close_backends()

    try:
        seen = asyncio.run(poll_until_seen())
    finally:
        conn.rollback()
        conn.close()
    assert seen is not None, "the session never showed up"
    assert f"{marker} \\x1b]0;pwned\\x07 [/" in seen.query and raw_controls(seen.query) == []


async def test_a_widget_that_cannot_draw_its_text_does_not_end_the_console(
        write_config: Callable[..., Path]) -> None:
    from textual.app import ComposeResult
    from textual.screen import ModalScreen
    from textual.widgets import Static

    from console.config import load_config
    from screens.app import OpsConsoleApp

    class Broken(ModalScreen[None]):
        """A view that (wrongly) hands server text to a markup-parsing widget."""

        def compose(self) -> ComposeResult:
            yield Static("task failed: @[/ args", id="broken")

    app = OpsConsoleApp(load_config(str(write_config("[[host]]\n"))))
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        app.push_screen(Broken())
        await pilot.pause(0.5)
        assert app.is_running and app.return_code is None
        shown = str(app.screen.query_one("#broken", Static).render())
        assert "task failed: @[/ args" in shown
        await pilot.press("q")
        await pilot.pause()
