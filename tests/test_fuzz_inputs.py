"""Fuzzing what users and systems hand the console: config files, target names, and text
read from systems (queue items, key names, task arguments, query text, log lines).

Hypothesis runs derandomized (the same examples every run, so CI is repeatable); a failure
prints the example that broke it. No traceback anywhere, config errors are one line naming
the key, and nothing reaches the terminal that it would interpret.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from console.config import parse_config
from console.core.errors import ConfigError
from console.core.loglines import printable
from console.core.scrub import scrub, scrub_text
from console.core.secrets import Redactor
from console.core.targets import matches, split_target
from console.registry import parse_target
from tests.conftest import OPSCONSOLE

FAST = settings(max_examples=100, deadline=None, derandomize=True, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=4, deadline=None, derandomize=True, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# What a terminal would act on: C0 controls but tab and newline, DEL, C1 controls (ESC, CSI,
# OSC...), and the format characters that reorder or hide text.
_INTERPRETED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                          "\u202a-\u202e\u2066-\u2069]")


def interpreted(text: str) -> list[str]:
    return _INTERPRETED.findall(text)


# -- config files ---------------------------------------------------------------------------

# A config every example starts from: it loads. Each example changes one key of one entry.
BASE: dict[str, Any] = {
    "console": {"refresh": "2s", "timeout": 5, "deadline": 30, "read_only": False,
                "title": "web1"},
    "redis": [{"name": "crawl", "url": "redis://127.0.0.1:1/0", "timeout": 2,
               "queues": [{"name": "q", "queue": "crawl:q", "warn": 10, "crit": 100}]}],
    "postgres": [{"name": "db", "dsn": "postgresql://u@127.0.0.1:1/app", "timeout": 2,
                  "backup": {"dir": "/tmp/opsconsole-fuzz-backups", "keep_days": 3}}],
    "http": [{"name": "api", "url": "http://127.0.0.1:1/health", "expect_status": 200,
              "timeout": 2}],
    "backup": [{"name": "media", "paths": ["/srv/media"], "dir": "/srv/backups", "keep": 3,
                "max_age": "26h"}],
    "docker": [{"containers": ["app-*"], "host": "unix:///nonexistent.sock", "timeout": 2,
                "backup": {"dir": "/srv/volumes", "keep": 2}}],
}
# (section, key) -> what the key holds, for picking values of the wrong kind
KEYS = [("console", k) for k in BASE["console"]] + [
    (section, key) for section in BASE if section != "console"
    for key in BASE[section][0]]

_BAD_DURATIONS = st.sampled_from(["5x", "-3s", "", "1e999", "inf", "nan", "2 fortnights",
                                  "10mm", "h", "1h-30m", " ", "0x10s", "99999999999d"])
_BAD_URLS = st.sampled_from(["", "redis//x", "http://", "postgresql://", "ftp://x/y",
                             "http://[::1", "redis://:@", "://", "http://exa mple.com",
                             "postgresql://u@h:99999999/d", "unix://", "\x00"])
_NUMBERS = st.one_of(st.integers(min_value=-(2**63), max_value=2**63 - 1),
                     st.sampled_from([math.inf, -math.inf, math.nan, 1e308, -0.0, 2**62]),
                     st.floats(allow_nan=True, allow_infinity=True))
_TEXT = st.text(max_size=30)
_SCALARS = st.one_of(_NUMBERS, st.booleans(), _TEXT, _BAD_DURATIONS, _BAD_URLS)
_VALUES = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=3),
                    st.dictionaries(st.sampled_from(["dir", "x", "warn", "name"]), _SCALARS,
                                    max_size=2))


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") \
            if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string (or a TOML error: also fine)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) \
        + " }"


def toml_document(data: dict[str, Any]) -> str:
    lines = []
    for section, body in data.items():
        if isinstance(body, dict):
            lines.append(f"[{section}]")
            lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in body.items()]
            continue
        for entry in body:
            lines.append(f"[[{section}]]")
            subtables = {k: v for k, v in entry.items() if isinstance(v, list)
                         and v and all(isinstance(i, dict) for i in v)}
            lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in entry.items()
                      if k not in subtables]
            for key, items in subtables.items():
                for item in items:
                    lines.append(f"[[{section}.{key}]]")
                    lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


@st.composite
def broken_configs(draw: st.DrawFn) -> tuple[str, str, str]:
    """(document, section, key): BASE with one key set to something odd, or one unknown key."""
    data = json.loads(json.dumps(BASE))
    section, key = draw(st.sampled_from(KEYS))
    table = data[section] if section == "console" else data[section][0]
    if draw(st.booleans()):
        key = draw(st.from_regex(r"[a-z_]{1,12}", fullmatch=True).filter(
            lambda k: k not in table))
    table[key] = draw(_VALUES)
    return toml_document(data), section, key


def test_the_base_config_loads() -> None:
    config = parse_config(toml_document(BASE), Path("/tmp/fuzz.toml"))
    assert set(config.sections) >= {"redis", "postgres", "http", "backup", "docker"}


@FAST
@given(broken_configs())
@example(("[console]\ndeadline = inf\n", "console", "deadline"))
@example(("[console]\ntimeout = nan\n", "console", "timeout"))
@example(('[[http]]\nname = "a"\nurl = "http://x/"\ntimeout = 1e300\n', "http", "timeout"))
def test_a_config_loads_or_says_in_one_line_which_key_is_wrong(
        case: tuple[str, str, str]) -> None:
    text, section, key = case
    for tolerant in (False, True):
        try:
            config = parse_config(text, Path("/tmp/fuzz.toml"), tolerant=tolerant)
        except ConfigError as exc:
            message = str(exc)
            assert "\n" not in message and "fuzz.toml: " in message, message
            assert "not valid TOML" in message or repr(key) in message \
                or f"'{section}'" in message, message
            continue
        for broken in config.broken:
            assert "\n" not in broken.reason, broken.reason
        console = config.console
        # whatever loaded is usable: every duration ends
        for seconds in (console.refresh, console.timeout, console.deadline, console.retention):
            assert math.isfinite(seconds) and seconds >= 0, (key, seconds)
        for entries in config.sections.values():
            for entry in entries:
                for name in ("timeout", "interval", "max_age", "statement_timeout"):
                    seconds = getattr(entry, name, None)
                    assert seconds is None or (isinstance(seconds, float | int)
                                               and math.isfinite(seconds)), (name, seconds)


@SLOW
@given(case=broken_configs())
def test_check_with_a_broken_config_prints_one_reason_and_no_traceback(
        case: tuple[str, str, str], tmp_path_factory: Any, cli_env: dict[str, str]) -> None:
    text, _, _ = case
    path = tmp_path_factory.mktemp("fuzz") / "config.toml"
    path.write_text(text)
    path.chmod(0o600)
    done = subprocess.run([*OPSCONSOLE, "--headless", "check", "--config", str(path),
                           "--timeout", "5"], env=cli_env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode in (0, 1, 2, 3), done
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    assert done.stdout.startswith("OPSCONSOLE "), done.stdout
    assert not interpreted(done.stdout + done.stderr)


# -- target names -----------------------------------------------------------------------------

@FAST
@given(st.text(max_size=40))
@example("unit:")
@example(":x")
@example("\x1b]0;owned\x07:x")
def test_a_target_splits_or_says_how_to_write_one(target: str) -> None:
    try:
        kind, name = split_target(target)
    except ConfigError as exc:
        assert "KIND:NAME" in str(exc) and "\n" not in str(exc)
        assert not interpreted(str(exc)), str(exc)
    else:
        assert f"{kind}:{name}" == target and kind and name
    try:
        parse_target(target)
    except ConfigError as exc:
        assert "\n" not in str(exc) and not interpreted(str(exc))
    assert isinstance(matches(target, [target, "unit", "queue:*", "[", "*"]), bool)


@SLOW
@given(target=st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
                      min_size=1, max_size=30))
@example(target="\x1b[2J\x1b]0;pwned\x07")
@example(target="unit:")
@example(target="volume:../../etc")
def test_the_command_line_refuses_a_bad_target_in_one_line(
        target: str, tmp_path_factory: Any, cli_env: dict[str, str]) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "config.toml"
    path.write_text('[[http]]\nname = "api"\nurl = "http://127.0.0.1:1/"\n')
    path.chmod(0o600)
    done = subprocess.run([*OPSCONSOLE, "--headless", "restart", target, "--yes",
                           "--config", str(path)], env=cli_env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2, done  # usage or config error, as the README promises
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, \
        done.stderr
    assert not interpreted(done.stdout + done.stderr), done.stderr


# -- text read from systems -------------------------------------------------------------------

_SYSTEM_TEXT = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.lists(st.sampled_from(["\x1b[31m", "\x1b]0;title\x07", "\x9b2J", "\r", "\x08",
                              "\u202e", "\x00", "\n", "\t", "ok", "é", "\ud800", "\x7f"]),
             max_size=12).map("".join))


@FAST
@given(st.one_of(_SYSTEM_TEXT, st.binary(max_size=200)))
def test_printable_leaves_nothing_a_terminal_would_interpret(data: str | bytes) -> None:
    shown = printable(data, limit=100)
    assert not interpreted(shown) and "\n" not in shown, repr(shown)
    assert printable(shown, limit=10_000) == shown  # already safe: left alone


@FAST
@given(_SYSTEM_TEXT, st.text(min_size=4, max_size=12).filter(lambda s: s.strip() == s))
def test_scrub_masks_secrets_and_controls_in_any_value(text: str, secret: str) -> None:
    redactor = Redactor()
    redactor.add(secret)
    value = {"key": f"{text}{secret}{text}", "items": [text, (secret, 1)],
             text: [f"a{secret}"]}
    clean = scrub(value, redactor)
    flat = json.dumps(clean, ensure_ascii=False)
    assert secret not in flat
    for string in _strings(clean):
        assert not interpreted(string.replace("\n", "")), repr(string)
    assert scrub_text(scrub_text(text)) == scrub_text(text)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(k) + _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


@SLOW
@given(output=st.binary(min_size=1, max_size=300))
@example(output=b"OK - \x1b]0;owned\x07 \x1b[2J\x9b31m | 'a\x1b'=1;2;3\n\x1b[5mlong text\r\n")
def test_a_plugins_output_reaches_check_text_and_json_harmless(
        output: bytes, tmp_path_factory: Any, cli_env: dict[str, str]) -> None:
    """What a real program prints goes through the check into text and JSON."""
    where = tmp_path_factory.mktemp("fuzz")
    (where / "out").write_bytes(output)
    path = where / "config.toml"
    path.write_text(f'[[command]]\nname = "plugin"\ncommand = ["cat", "{where / "out"}"]\n')
    path.chmod(0o600)
    for fmt in ("text", "json"):
        done = subprocess.run([*OPSCONSOLE, "--headless", "check", "--format", fmt,
                               "--config", str(path)], env=cli_env, capture_output=True,
                              timeout=60, check=False)
        shown = done.stdout.decode("utf-8", "replace") + done.stderr.decode("utf-8", "replace")
        assert done.returncode in (0, 1, 2, 3), shown
        assert "Traceback" not in shown, shown
        assert not interpreted(shown), repr(shown)
        if fmt == "json":
            json.loads(done.stdout)


