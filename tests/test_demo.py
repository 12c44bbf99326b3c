"""`opsconsole demo`: the real stack comes up, every kind of backend is seen, and `--down`
removes what a killed demo left (processes, containers, mounts, directories)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from console.sandbox.processes import mounts_under
from tests.conftest import OPSCONSOLE
from tests.testbed.fixtures import require_service

KINDS = ("unit:", "queue:", "celery:", "container:", "postgres:", "http:", "host:")


def leftovers(dirs: list[Path]) -> list[str]:
    """Processes, mounts and directories that still belong to the demo's services."""
    found = [str(d) for d in dirs if d.exists()]
    for d in dirs:
        found += [f"mount {m}" for m in mounts_under(d)]
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or ())
        if any(str(d) in cmdline for d in dirs):
            found.append(f"process {proc.info['pid']}: {cmdline[:120]}")
    return found


def test_non_root_is_refused_clearly(monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    # The interpreter of this checkout is not readable by other users here, so the
    # refusal is exercised in-process as an unprivileged effective uid would see it.
    from console.cli import main

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["demo"]) == 3
    err = capsys.readouterr().err.strip()
    assert "needs root" in err and "sudo opsconsole demo" in err
    assert len(err.splitlines()) == 1


def test_demo_brings_up_every_backend_and_down_cleans_a_killed_one(
        cli_env: dict[str, str], tmp_path: Path) -> None:
    if os.geteuid() != 0:
        require_service("demo", "needs root")
    demo = subprocess.Popen([*OPSCONSOLE, "--headless", "demo"], env=cli_env, cwd=tmp_path,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    assert demo.stdout is not None
    output: list[str] = []
    deadline = time.monotonic() + 120
    try:
        for line in demo.stdout:
            output.append(line)
            if line.startswith("Demo is up") or time.monotonic() > deadline:
                break
        text = "".join(output)
        assert "Demo is up" in text, text
        checks = [line for line in output if line.split(" ", 1)[0] in
                  ("OK", "WARNING", "CRITICAL", "UNKNOWN")]
        for kind in KINDS:
            assert any(f" {kind}" in line for line in checks), f"no {kind} check in:\n{text}"
        assert any("unit:demo-broken.service" in c and c.startswith("CRITICAL") for c in checks)
        assert any("container:demo-ledger" in c and "crash loop" in c for c in checks)
        assert any("celery:demo failed" in c and "3 failed" in c for c in checks)
        assert any("queue:demo/jobs" in c and "failed 5" in c for c in checks)
        assert any(c.startswith("CRITICAL postgres:demo backup - no verified backup in ")
                   for c in checks), text
        dirs = [Path(line.split(": ", 1)[1].strip()) for line in output
                if line.startswith("  ") and ": /tmp/octb/" in line]
        assert len(dirs) == 5
        config_path = Path(text.split("config: ", 1)[1].split()[0])
        # The demo's database can be backed up, into the demo's own directory.
        backup = subprocess.run([*OPSCONSOLE, "--headless", "backup", "postgres:demo", "--yes",
                                 "--config", str(config_path)], env=cli_env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=120)
        assert backup.returncode == 0, backup.stdout + backup.stderr
        after = subprocess.run([*OPSCONSOLE, "--headless", "check", "--only", "postgres:demo",
                                "--config", str(config_path)], env=cli_env, cwd=tmp_path,
                               capture_output=True, text=True, timeout=60)
        assert "OK postgres:demo backup - last verified backup" in after.stdout, after.stdout
        assert list((config_path.parent / "backups").glob("demo-*.dump")), backup.stdout
        web_url = next(line.split(" = ")[1].strip().strip('"')
                       for line in config_path.read_text().splitlines()
                       if line.startswith("url = \"http://"))
        web_port = int(web_url.split(":")[2].split("/")[0])
    except BaseException:
        os.killpg(demo.pid, signal.SIGKILL)
        demo.wait(timeout=10)
        subprocess.run([*OPSCONSOLE, "demo", "--down"], env=cli_env, capture_output=True,
                       timeout=90, cwd=tmp_path)  # leave nothing behind for the next test
        raise
    # A demo that dies hard leaves everything running: what --down is for.
    os.killpg(demo.pid, signal.SIGKILL)
    demo.wait(timeout=10)
    assert leftovers(dirs), "the killed demo should have left its services running"

    down = subprocess.run([*OPSCONSOLE, "demo", "--down"], env=cli_env, capture_output=True,
                          text=True, timeout=90, cwd=tmp_path)
    assert down.returncode == 0, down.stderr
    assert "Demo leftovers cleaned" in down.stdout
    assert leftovers(dirs) == []
    assert not config_path.parent.exists()
    listening = {c.laddr.port for c in psutil.net_connections("tcp")
                 if c.status == psutil.CONN_LISTEN}
    assert web_port not in listening  # the web container is gone, not orphaned


def test_an_installed_copy_carries_the_sandbox_and_every_subpackage(tmp_path: Path) -> None:
    """`opsconsole demo` runs from an installed wheel: the sandbox, its installer and every
    subpackage (kernel, backends, screens) are in it, and nothing from tests/."""
    import zipfile

    root = Path(__file__).resolve().parent.parent
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "-q", "-w", str(tmp_path), str(root)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    wheel = next(tmp_path.glob("opsconsole-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("console/sandbox/install.sh", "console/sandbox/celeryapp.py",
                   "console/core/model.py", "backends/redis/backend.py", "screens/app.py",
                   "screens/console.tcss", "widgets/log_pane.py"):
        assert needed in names, f"{needed} missing from the wheel"
    assert not any(name.startswith("tests/") for name in names)
