"""`[[file]]` checks: existence, age and a JSON value, on real files, through the CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import OPSCONSOLE


def run(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--config", str(config), "--headless", "check"],
                          env=env, capture_output=True, text=True, timeout=60)


def entry(name: str, path: Path, extra: str = "") -> str:
    return f"[[file]]\nname = '{name}'\npath = '{path}'\n{extra}"


def test_json_switch_age_and_missing_file(tmp_path: Path, write_config: Callable[..., Path],
                                          cli_env: dict[str, str]) -> None:
    switch = tmp_path / "auto_record_config.json"
    switch.write_text(json.dumps({"auto_record": {"enabled": True, "sources": ["a", "b"]}}))
    heartbeat = tmp_path / "heartbeat"
    heartbeat.write_text("")
    config = write_config(
        entry("switch", switch, "json_path = 'auto_record.enabled'\nexpect = true\n")
        + entry("second_source", switch, "json_path = 'auto_record.sources.1'\nexpect = 'b'\n")
        + entry("heartbeat", heartbeat, "max_age = '10m'\nwarn_age = '2m'\n"))
    result = run(config, cli_env)
    assert result.returncode == 0, result.stdout + result.stderr
    # written just now: a second or two old by the time a loaded machine has checked it
    assert re.search(r"OK file:switch - modified \d+s ago, auto_record.enabled is true",
                     result.stdout), result.stdout

    os.utime(heartbeat, (time.time() - 300, time.time() - 300))
    result = run(config, cli_env)
    assert result.returncode == 1
    assert re.search(r"WARNING file:heartbeat - modified 5m( \d\ds)? ago \(older than 2m\)",
                     result.stdout), result.stdout

    os.utime(heartbeat, (time.time() - 3600, time.time() - 3600))
    switch.write_text(json.dumps({"auto_record": {"enabled": 1, "sources": ["a"]}}))
    result = run(config, cli_env)
    assert result.returncode == 2
    assert "CRITICAL file:switch - auto_record.enabled is 1, expected true" in result.stdout
    assert "CRITICAL file:second_source - no value at auto_record.sources.1" in result.stdout
    assert "CRITICAL file:heartbeat - modified 1h 00m ago (older than 10m)" in result.stdout

    switch.write_text("{ not json")
    heartbeat.unlink()
    result = run(config, cli_env)
    assert "CRITICAL file:switch - not valid JSON" in result.stdout
    assert f"CRITICAL file:heartbeat - {heartbeat} does not exist" in result.stdout


def test_expect_without_json_path_is_a_config_error(tmp_path: Path,
                                                    write_config: Callable[..., Path],
                                                    cli_env: dict[str, str]) -> None:
    config = write_config(entry("x", tmp_path / "x.json", "expect = true\n"))
    result = run(config, cli_env)
    assert result.returncode == 3  # the entry is not checked: UNKNOWN, with its reason
    assert "[[file]] #1 'expect': needs 'json_path' too" in result.stdout
    assert "[[file]] #1 'expect': needs 'json_path' too" in result.stderr
