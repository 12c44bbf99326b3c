"""Secrets are masked on every path by construction, and files holding them are checked.

A password sits in an `[[http]]` URL's user-info, a libpq DSN's `?password=`, a `[[command]]`
check's arguments and output, and a `password_file`; it must appear in none of `check` and
`status` JSON, the Endpoints view, the palette's commands or the audit log.
"""

from __future__ import annotations

import json
import os
import random
import string
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from console.config import load_config
from tests.conftest import OPSCONSOLE
from tests.support.http_server import health_server


@pytest.fixture
def password() -> str:
    seed = random.randrange(1 << 30)
    print(f"seed {seed}")
    return "pw-" + "".join(random.Random(seed).choices(string.ascii_letters, k=14))


def cli(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--config", str(config), "--headless", *args],
                          env=env, capture_output=True, text=True, timeout=60)


def test_http_url_password_is_masked_in_check_and_status_json(
        password: str, write_config: Callable[..., Path], cli_env: dict[str, str]) -> None:
    with health_server() as base:
        url = base.replace("http://", f"http://ops:{password}@") + "/fail"
        config = write_config(f'[[http]]\nname = "api"\nurl = "{url}"\n')
        checked = cli(config, cli_env, "check", "--format", "json")
        status = cli(config, cli_env, "status", "--format", "json")
    assert checked.returncode == 2, checked.stdout + checked.stderr
    assert "ops:***@127.0.0.1" in checked.stdout  # the URL is still shown, masked
    for out in (checked, status):
        assert password not in out.stdout + out.stderr
    assert "***" in json.dumps(json.loads(status.stdout))


def test_command_arguments_and_output_hide_a_registered_secret(
        password: str, tmp_path: Path, write_config: Callable[..., Path],
        cli_env: dict[str, str]) -> None:
    script = tmp_path / "check_login"
    script.write_text('#!/bin/sh\necho "CRITICAL - login with $2 refused"\nexit 2\n')
    script.chmod(0o755)
    secret = tmp_path / "redis.pw"
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    # the password is registered by [[redis]]; the plugin is handed the same value
    config = write_config(f'[[redis]]\nname = "cache"\nurl = "redis://127.0.0.1:9/0"\n'
                          'celery_queues = ["celery"]\n'
                          f'password_file = "{secret}"\n'
                          f"[[command]]\nname = 'login'\n"
                          f"command = ['{script}', '--token', '{password}']\n")
    out = cli(config, cli_env, "check", "--format", "json", "--only", "command:login")
    assert out.returncode == 2, out.stdout + out.stderr
    check = json.loads(out.stdout)["checks"][0]
    assert check["summary"] == "CRITICAL - login with *** refused"
    assert "--token ***" in check["details"]
    assert password not in out.stdout


def test_libpq_query_password_is_registered_and_the_config_mode_warned(
        password: str, write_config: Callable[..., Path], cli_env: dict[str, str]) -> None:
    config = write_config('[[postgres]]\nname = "db"\n'
                          f'dsn = "postgresql://app@127.0.0.1:9/app?password={password}"\n'
                          "timeout = 1\n")
    os.chmod(config, 0o644)
    out = cli(config, cli_env, "status", "--format", "json")
    assert f"{config} holds secrets and is readable by other users: chmod 600 {config}" \
        in out.stderr
    assert password not in out.stdout + out.stderr
    loaded = load_config(str(config))
    assert loaded.redactor(f"x {password} y") == "x *** y"


def test_world_readable_password_file_is_warned(
        password: str, tmp_path: Path, write_config: Callable[..., Path]) -> None:
    secret = tmp_path / "redis.pw"
    secret.write_text(password + "\n")
    os.chmod(secret, 0o644)
    config = write_config('[[redis]]\nname = "cache"\nurl = "redis://127.0.0.1:9/0"\n'
                          'celery_queues = ["celery"]\n'
                          f'password_file = "{secret}"\n')
    loaded = load_config(str(config))
    assert f"{secret} holds secrets and is readable by other users: chmod 600 {secret}" \
        in loaded.warnings
    os.chmod(secret, 0o600)
    assert not any(str(secret) in w for w in load_config(str(config)).warnings)


async def test_endpoints_view_and_palette_mask_the_url_password(
        password: str, write_config: Callable[..., Path]) -> None:
    from screens.app import OpsConsoleApp
    from widgets.live_table import LiveTable

    with health_server() as base:
        url = base.replace("http://", f"http://ops:{password}@") + "/ok"
        config = load_config(str(write_config(f'[[http]]\nname = "api"\nurl = "{url}"\n')))
        app = OpsConsoleApp(config)
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("ctrl+p", *"Go to Endpoints")
            await pilot.pause(0.3)
            await pilot.press("enter")
            table = app.screen.query_one(LiveTable)
            for _ in range(100):
                await pilot.pause(0.1)
                if table.row_count and "ms" in str(table.get_row_at(0)[4]):
                    break
            cells = " ".join(str(c) for c in table.get_row_at(0))
            assert "ops:***@127.0.0.1" in cells and password not in cells
            palette = " ".join(f"{c.title} {c.help}"
                               for c in app.get_system_commands(app.screen))
            assert "Check http:api" in palette
            assert "ops:***@" in palette and password not in palette
