"""Config loading: valid files, every kind of mistake, and secrets kept out of sight."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from console.config import load_config, parse_config
from console.core.durations import format_span, parse_duration
from console.core.errors import ConfigError
from console.core.secrets import redact_url

VALID = """
[console]
refresh = "3s"
read_only = true
timeout = 4

[[http]]
name = "api"
url = "http://127.0.0.1:8000/health/"
expect_status = 200
expect_json = { status = "ok" }
latency_warn = "500ms"
timeout = 2

[[host]]
name = "web1"
disks = ["/"]
ports = [8080, 5051]
"""


def error_of(text: str, write_config: Callable[[str], Path]) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(str(write_config(text)))
    return str(caught.value)


def test_valid_config_is_typed(write_config: Callable[[str], Path]) -> None:
    config = load_config(str(write_config(VALID)))
    assert config.console.refresh == 3.0
    assert config.console.read_only is True
    api = config.sections["http"][0]
    assert api.url == "http://127.0.0.1:8000/health/"
    assert api.expect_json == (("status", "ok"),)
    assert api.latency_warn == 0.5
    host = config.sections["host"][0]
    assert host.ports == (8080, 5051)


@pytest.mark.parametrize(("text", "expected"), [
    ("[[http]]\nname = 'api'\nurl = 'localhost'\n",
     "config.toml: [[http]] #1 'url': expected a http:// URL or a https:// URL, got 'localhost'"),
    ("[[http]]\nname = 'api'\nurl = 'http://x/'\ntimout = 3\n",
     "config.toml: [[http]] #1 'timout': unknown key"),
    ("[[http]]\nurl = 'http://x/'\n", "config.toml: [[http]] #1 'name': is required"),
    ("[[http]]\nname = 'a'\nurl = 'http://x/'\ntimeout = 'soon'\n",
     "[[http]] #1 'timeout': expected a duration"),
    ("[[host]]\nports = ['8080']\n", "[[host]] #1 'ports': expected a list of port numbers"),
    ("[[host]]\ndisks = 'relative/path'\n", "expected absolute paths"),
    ("[console]\nrefresh = true\n", "[console] 'refresh': expected a duration"),
    ("[[nosuchthing]]\nx = 1\n", "'nosuchthing': unknown section"),
    ("[[http]]\nname = 'a'\nurl = 'http://x/'\n[[http]]\nname = 'a'\nurl = 'http://y/'\n",
     "name 'a' is used twice"),
    ("[[http]]\nname = 'has space'\nurl = 'http://x/'\n", "expected a name of letters"),
])
def test_each_mistake_names_the_key_and_the_fix(text: str, expected: str,
                                                 write_config: Callable[[str], Path]) -> None:
    assert expected in error_of(text, write_config)


def test_toml_syntax_error_names_the_line(write_config: Callable[[str], Path]) -> None:
    message = error_of("[console]\nrefresh = \n", write_config)
    assert message.startswith(str(write_config("x")).rsplit("/", 1)[0]) or "config.toml" in message
    assert "not valid TOML" in message and "line 2" in message


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(str(tmp_path / "absent.toml"))


def test_no_config_file_watches_this_host(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr("console.config.DEFAULT_PATHS", (tmp_path / "nope.toml",))
    config = load_config(None)
    assert config.path is None
    assert list(config.sections) == ["host"]
    assert config.searched == [tmp_path / "nope.toml"]


def test_env_config_variable_is_used(write_config: Callable[[str], Path],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(VALID)
    monkeypatch.setenv("OPSCONSOLE_CONFIG", str(path))
    assert load_config(None).path == path


def test_secret_from_env_is_redacted(write_config: Callable[[str], Path],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", "s3cr3t-token-value")
    config = load_config(str(write_config(
        "[[http]]\nname = 'api'\nurl = 'http://u:${API_TOKEN}@127.0.0.1/'\n")))
    assert config.sections["http"][0].url == "http://u:s3cr3t-token-value@127.0.0.1/"
    assert config.redactor("failed for http://u:s3cr3t-token-value@h/") == "failed for http://u:***@h/"


def test_missing_env_variable_says_what_to_do(write_config: Callable[[str], Path],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    message = error_of("[[http]]\nname = 'a'\nurl = 'http://u:${NOT_SET_ANYWHERE}@x/'\n",
                       write_config)
    assert "environment variable NOT_SET_ANYWHERE is not set" in message


def test_secret_never_appears_in_a_config_error(write_config: Callable[[str], Path],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PW", "hunter2-very-secret")
    message = error_of("[[http]]\nname = 'a'\nurl = 'ftp://u:${PW}@x/'\n", write_config)
    assert "hunter2-very-secret" not in message
    assert "***" in message


def test_password_file_is_read_and_redacted(tmp_path: Path) -> None:
    from console.core.configtable import Table
    from console.core.secrets import Redactor

    secret_file = tmp_path / "pw"
    secret_file.write_text("from-a-file\n")
    redactor = Redactor()
    table = Table({"password_file": str(secret_file)}, "[[redis]] #1", "config.toml", redactor)
    assert table.secret("password") == "from-a-file"
    assert redactor("auth from-a-file") == "auth ***"
    missing = Table({"password_file": str(tmp_path / "gone")}, "[[redis]] #1", "c.toml", redactor)
    with pytest.raises(ConfigError, match="'password_file': cannot read"):
        missing.secret("password")


def test_world_readable_config_with_secrets_warns(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", "tok-123456")
    path = tmp_path / "config.toml"
    path.write_text("[[http]]\nname = 'api'\nurl = 'http://u:${API_TOKEN}@127.0.0.1/'\n")
    os.chmod(path, 0o644)
    config = parse_config(path.read_text(), path)
    assert config.warnings == [f"{path} holds secrets and is readable by other users: chmod 600 {path}"]
    os.chmod(path, 0o600)
    assert parse_config(path.read_text(), path).warnings == []


def test_redact_url_keeps_user_and_host() -> None:
    assert redact_url("postgresql://ujmp:pw@127.0.0.1:5432/db") == "postgresql://ujmp:***@127.0.0.1:5432/db"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(("value", "seconds"), [
    (5, 5.0), ("2s", 2.0), ("10m", 600.0), ("26h", 93600.0), ("1h30m", 5400.0), ("250ms", 0.25),
    ("7d", 604800.0), ("1.5", 1.5)])
def test_durations_accept_numbers_and_units(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["soon", "-3", "5 parsecs", True, ""])
def test_bad_durations_are_rejected(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_spans_read_like_a_person_would_say_them() -> None:
    assert format_span(45) == "45s"
    assert format_span(185) == "3m 05s" and format_span(120) == "2m"
    assert format_span(12 * 60 + 41) == "12m"  # an age on screen changes once a minute
    assert format_span(3 * 3600 + 12 * 60) == "3h 12m"
    assert format_span(3 * 86400 + 3600) == "3d 1h"
