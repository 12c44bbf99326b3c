"""The deploy backend never runs a repository's programs as root, nor lets a commit swap
the tools its after_checkout commands run; those commands run as the app's user."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import OPSCONSOLE

NOBODY = 65534


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "safe.directory=*", "-C", str(repo), *args],
                          capture_output=True, text=True,
                          check=True, timeout=30).stdout.strip()


def commit(repo: Path, message: str, files: dict[str, str]) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A dir every user can enter (pytest's tmp dirs are root's only)."""
    path = Path(tempfile.mkdtemp(prefix="octest-deploy-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def new_repo(where: Path) -> Path:
    repo = where / "app"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "d@example.com")
    git(repo, "config", "user.name", "D")
    return repo


def cli(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--config", str(config), "--headless", *args], env=env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the repo to another user")
def test_a_repository_owned_by_another_user_runs_none_of_its_programs_as_root(
        open_dir: Path, tmp_path: Path, write_config: Callable[..., Path],
        cli_env: dict[str, str]) -> None:
    repo = new_repo(open_dir)
    first = commit(repo, "release 1", {"f": "1"})
    commit(repo, "release 2", {"f": "2"})
    markers = open_dir / "markers"
    markers.mkdir()
    os.chmod(markers, 0o777)  # so that a program run as anyone could leave its mark
    spy = open_dir / "spy.sh"
    spy.write_text(f'#!/bin/sh\nid -u >> "{markers}/$(basename "$0")-$$"\n')
    spy.chmod(0o755)
    git(repo, "config", "core.fsmonitor", str(spy))
    hooks = repo / ".git" / "hooks"
    for hook in ("post-checkout", "post-index-change", "reference-transaction"):
        shutil.copy(spy, hooks / hook)
    git(repo, "config", "diff.external", str(spy))
    subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(repo)], check=True, timeout=30)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[safe]\n\tdirectory = *\n")  # lets root's git in
    env = cli_env | {"HOME": str(home)}
    config = write_config(f'[[deploy]]\nname = "app"\nrepo = "{repo}"\n')

    status = cli(config, env, "--read-only", "status")
    assert "deploy:app: at" in status.stdout, status.stdout + status.stderr
    rolled = cli(config, env, "rollback", "deploy:app", "--to", first, "--yes")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert git(repo, "rev-parse", "HEAD") == first
    ran_as = [line for f in markers.iterdir() for line in f.read_text().split()]
    assert "0" not in ran_as, f"a repository program ran as root: {sorted(markers.iterdir())}"
    # and with fsmonitor, hooks and external diff overridden, none ran at all
    assert sorted(markers.iterdir()) == []


def test_a_checkout_that_would_replace_an_ignored_tool_is_refused(
        tmp_path: Path, write_config: Callable[..., Path], cli_env: dict[str, str]) -> None:
    repo = new_repo(tmp_path)
    evil = commit(repo, "release 1 (tracks its own pip)",
                  {"venv/bin/pip": "#!/bin/sh\necho pwned\n", "f": "1"})
    git(repo, "rm", "-q", "-r", "--cached", "venv")
    shutil.rmtree(repo / "venv")
    commit(repo, "release 2", {".gitignore": "venv/\n", "f": "2"})
    pip = repo / "venv" / "bin" / "pip"
    pip.parent.mkdir(parents=True)
    pip.write_text("#!/bin/sh\necho the real pip\n")
    config = write_config(f'[[deploy]]\nname = "app"\nrepo = "{repo}"\n'
                          'after_checkout = [["venv/bin/pip", "--version"]]\n')
    out = cli(config, cli_env, "rollback", "deploy:app", "--to", evil, "--yes")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "would overwrite files that are not tracked here (venv/bin/pip)" in \
        out.stdout + out.stderr
    assert pip.read_text() == "#!/bin/sh\necho the real pip\n"
    assert git(repo, "log", "-1", "--format=%s") == "release 2"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")
def test_after_checkout_runs_as_the_configured_user(
        open_dir: Path, write_config: Callable[..., Path], cli_env: dict[str, str]) -> None:
    repo = new_repo(open_dir)
    first = commit(repo, "release 1", {"f": "1"})
    commit(repo, "release 2", {"f": "2"})
    config = write_config(f'[[deploy]]\nname = "app"\nrepo = "{repo}"\nuser = "nobody"\n'
                          'after_checkout = [["id", "-u"], ["sh", "-c", "echo $HOME"]]\n')
    out = cli(config, cli_env, "rollback", "deploy:app", "--to", first, "--yes")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"] {NOBODY}" in out.stdout and "] /nonexistent" in out.stdout, out.stdout


def test_an_unknown_user_is_a_config_error(write_config: Callable[..., Path],
                                           cli_env: dict[str, str], tmp_path: Path) -> None:
    config = write_config(f'[[deploy]]\nname = "app"\nrepo = "{tmp_path}"\n'
                          'user = "no-such-account-x"\n')
    out = cli(config, cli_env, "check")
    assert out.returncode == 3  # the entry is not checked: UNKNOWN, with why
    assert "'user': no user 'no-such-account-x' on this host" in out.stderr
    assert "UNKNOWN deploy:app - not checked:" in out.stdout
