"""The audit log's promise: rewriting or truncating it is detected, and the operator is who
the kernel says, not who the environment claims."""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import sqlite3
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from console.core.audit import _FIELDS, AuditLog
from console.core.identity import current_identity
from tests.conftest import OPSCONSOLE


def fill(state_dir: Path, n: int) -> AuditLog:
    log = AuditLog(state_dir)
    for i in range(n):
        log.append(action_id=f"a{i}", phase="finished", who="alice", client="pts/1",
                   verb="restart", target=f"unit:web{i}", outcome="ok")
    return log


def audit(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--config", str(config), "--headless", "audit"],
                          env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Path:
    return write_config("[[host]]\n")


def test_the_key_is_private_and_an_intact_log_verifies(
        state_dir: Path, config: Path, cli_env: dict[str, str]) -> None:
    fill(state_dir, 4)
    key = state_dir / "audit.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) == 32
    assert stat.S_IMODE((state_dir / "audit.head").stat().st_mode) == 0o600
    out = audit(config, cli_env)
    assert out.returncode == 0 and out.stdout.splitlines()[-1] == "OK: chain verifies (4 records)"


def test_deleting_the_newest_records_is_detected(
        state_dir: Path, config: Path, cli_env: dict[str, str]) -> None:
    fill(state_dir, 5)
    with sqlite3.connect(state_dir / "state.db") as db:
        db.execute("DELETE FROM audit WHERE id >= 4")
    out = audit(config, cli_env)
    assert out.returncode == 1
    assert out.stdout.splitlines()[-1] == (
        "BROKEN: records were removed from the end: the anchor vouches for record 5 "
        "(5 records), the log ends at record 3 (3 records)")


def test_an_edit_with_the_chain_recomputed_is_detected(
        state_dir: Path, config: Path, cli_env: dict[str, str]) -> None:
    fill(state_dir, 4)
    # what someone who knows the format (but not the key) does: edit, then rehash onwards
    with sqlite3.connect(state_dir / "state.db") as db:
        db.execute("UPDATE audit SET who = 'mallory' WHERE id = 2")
        prev = "0" * 64
        columns = ", ".join(_FIELDS)
        for row in db.execute(f"SELECT id, {columns} FROM audit ORDER BY id").fetchall():
            payload = json.dumps([prev, *row[1:]], separators=(",", ":"))
            digest = hashlib.sha256(payload.encode()).hexdigest()
            db.execute("UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?",
                       (prev, digest, row[0]))
            prev = digest
    out = audit(config, cli_env)
    assert out.returncode == 1
    assert out.stdout.splitlines()[-1] == (
        "BROKEN: record 2 was altered after it was written (its MAC does not match the key)")


def test_the_operator_comes_from_the_kernel_not_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = pwd.getpwuid(os.getuid()).pw_name
    monkeypatch.setenv("USER", "mallory")
    monkeypatch.setenv("LOGNAME", "mallory")
    monkeypatch.setenv("SUDO_USER", "mallory")
    who = current_identity().user
    # `root`, or `alice as root` where the session has a login uid
    assert who.startswith(real) or f" as {real}" in who, who
    assert not who.startswith("mallory")
    assert "(SUDO_USER=mallory, unverified)" in who
    monkeypatch.setenv("SUDO_USER", real)
    assert "SUDO_USER" not in current_identity().user
