"""A deploy's git working tree: current commit, previous release, what changed; fetch, checkout.

Every git call is an argument list with a timeout, no terminal to prompt on and no input;
revisions from the user are checked before they reach git.

The repository is someone else's input: its `.git/config` can name programs (fsmonitor,
hooks, external diff, textconv, filters) that git would run. So git runs with system and
global config ignored and those settings overridden on the command line, and, when the
console is root and the repository belongs to another user, as that user: whatever the
repository still makes git run, it runs with its owner's rights, never root's.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from console.core.errors import ActionFailed

GIT_TIMEOUT = 20.0
_SAFE_REV = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/@{}~^-]{0,199}$")
MIGRATION_HINTS = ("/migrations/", "alembic/versions/", "/migrate/", "db/migrate")


@dataclass(frozen=True)
class Commit:
    sha: str
    subject: str
    author: str
    date: float
    tags: tuple[str, ...] = ()

    @property
    def short(self) -> str:
        return self.sha[:10]


@dataclass(frozen=True)
class ReflogEntry:
    sha: str
    action: str
    when: float


class GitError(ActionFailed):
    """A git command failed; the message is git's own first line."""


# Command-line config wins over the repository's own.
SAFE_CONFIG = ("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null",
               "-c", "diff.external=", "-c", "core.pager=cat", "-c", "core.sshCommand=false",
               "-c", "core.askPass=", "-c", "credential.helper=", "-c", "protocol.allow=never")
# A fetch must reach the remotes: the transports a deploy uses are allowed, and ssh is the
# system's own, whatever the repository's config names (git runs as the repository's owner).
FETCH_CONFIG = ("-c", "protocol.allow=never", "-c", "protocol.https.allow=always",
                "-c", "protocol.ssh.allow=always", "-c", "protocol.file.allow=always",
                "-c", "core.sshCommand=ssh -o BatchMode=yes")
SAFE_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat", "PAGER": "cat"}
_DROPPED_ENV = ("GIT_EXTERNAL_DIFF", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_ASKPASS",
                "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT", "GIT_EXEC_PATH", "GIT_DIR",
                "GIT_WORK_TREE", "GIT_INDEX_FILE")


def git_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    return env | SAFE_ENV


def repo_owner(repo: Path) -> tuple[int, int] | None:
    """(uid, gid) to run git as: the repository's owner when root runs the console."""
    if os.geteuid() != 0:
        return None
    try:
        info = os.stat(repo)
    except OSError:
        return None
    return None if info.st_uid == 0 else (info.st_uid, info.st_gid)


def git(repo: Path, *args: str, timeout: float = GIT_TIMEOUT,
        fetching: bool = False) -> str:
    """Run git in `repo` and return its stdout; raise GitError with git's message.

    `fetching` lets the transports a fetch needs through (later -c options win).
    """
    owner = repo_owner(repo)
    config = (*SAFE_CONFIG, *FETCH_CONFIG) if fetching else SAFE_CONFIG
    try:
        result = subprocess.run(["git", *config, "-C", str(repo), *args],
                                capture_output=True, text=True, timeout=timeout, check=False,
                                stdin=subprocess.DEVNULL, env=git_environment(), cwd="/",
                                user=owner[0] if owner else None,
                                group=owner[1] if owner else None,
                                extra_groups=[] if owner else None)
    except FileNotFoundError:
        raise GitError("git is not installed: apt-get install git") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} took longer than {timeout:g}s in {repo}") from None
    if result.returncode != 0:
        message = (result.stderr.strip() or result.stdout.strip()).splitlines()
        raise GitError(f"git {args[0]} in {repo}: {message[0] if message else 'failed'}")
    return result.stdout


def check_revision(rev: str) -> str:
    if not _SAFE_REV.match(rev) or ".." in rev:
        raise GitError(f"{rev!r} is not a revision name (use a commit hash, tag or branch)")
    return rev


_FORMAT = "%H%x1f%s%x1f%an%x1f%ct%x1f%D"


def _commit(line: str) -> Commit:
    sha, subject, author, date, refs = line.split("\x1f")
    tags = tuple(r.removeprefix("tag: ") for r in refs.split(", ") if r.startswith("tag: "))
    return Commit(sha, subject, author, float(date), tags)


def resolve(repo: Path, rev: str) -> Commit:
    out = git(repo, "log", "-1", f"--format={_FORMAT}", check_revision(rev) + "^{commit}", "--")
    return _commit(out.rstrip("\n"))  # not strip(): \x1f counts as whitespace


def current(repo: Path) -> Commit:
    return resolve(repo, "HEAD")


def reflog(repo: Path, limit: int = 50) -> list[ReflogEntry]:
    out = git(repo, "reflog", "-n", str(limit), "--format=%H%x1f%gs%x1f%ct")
    entries = []
    for line in out.split("\n"):
        if not line:
            continue
        sha, action, when = line.split("\x1f")
        entries.append(ReflogEntry(sha, action, float(when)))
    return entries


def previous_release(repo: Path) -> Commit | None:
    """The commit HEAD was on before it moved to the current one, else its parent."""
    head = current(repo)
    for entry in reflog(repo):
        if entry.sha != head.sha:
            return resolve(repo, entry.sha)
    try:
        return resolve(repo, f"{head.sha}~1")
    except GitError:
        return None


def commits_between(repo: Path, older: str, newer: str, limit: int = 50) -> list[Commit]:
    out = git(repo, "log", f"--max-count={limit}", f"--format={_FORMAT}",
              f"{check_revision(older)}..{check_revision(newer)}", "--")
    return [_commit(line) for line in out.split("\n") if line]


def changed_files(repo: Path, older: str, newer: str) -> list[str]:
    out = git(repo, "diff", "--no-ext-diff", "--no-textconv", "--name-only",
              check_revision(older), check_revision(newer), "--")
    return [line for line in out.splitlines() if line]


def migration_files(files: list[str]) -> list[str]:
    return [f for f in files if any(hint in f"/{f}" for hint in MIGRATION_HINTS)]


def is_dirty(repo: Path) -> bool:
    return bool(git(repo, "status", "--porcelain", "--untracked-files=no").strip())


def seen_revisions(repo: Path) -> set[str]:
    """Commits this checkout has had (HEAD's reflog) or that a tag names."""
    seen = set(git(repo, "reflog", "--format=%H", "HEAD", "--").split())
    seen |= set(git(repo, "tag", "--format=%(objectname)%0a%(*objectname)").split())
    return seen


def rollback_target(repo: Path, rev: str, *, force: bool) -> Commit:
    """The commit a rollback goes to; one the deploy never ran nor tagged needs `force`.

    A branch or hash someone pushed is not a release: going back means going to something
    this checkout was at before (its reflog) or a tagged release.
    """
    target = resolve(repo, rev)
    if not force and target.sha not in seen_revisions(repo):
        raise GitError(f"{rev} ({target.short}) was never checked out here nor tagged: pass "
                       "--force to roll back to it anyway")
    return target


def would_overwrite(repo: Path, sha: str) -> list[str]:
    """Files `sha` tracks that HEAD does not but that exist here (ignored or untracked).

    git replaces ignored files silently on checkout: a commit that tracks `venv/bin/pip`
    would swap the local pip for its own, which an after_checkout command then runs.
    """
    out = git(repo, "diff", "--no-ext-diff", "--no-textconv", "--no-renames", "--name-only",
              "--diff-filter=A", "-z", "HEAD", sha, "--")
    found = []
    for name in filter(None, out.split("\0")):
        path = repo / name
        parts = Path(name).parts
        # the file itself, or a file where the new path needs a directory
        if os.path.lexists(path) or any(
                os.path.lexists(repo.joinpath(*parts[:i])) and
                not os.path.isdir(repo.joinpath(*parts[:i])) for i in range(1, len(parts))):
            found.append(name)
    return found


def checkout(repo: Path, rev: str) -> str:
    """Check out a revision (detached), refusing to throw away local changes."""
    if is_dirty(repo):
        raise GitError(f"{repo} has uncommitted changes: commit or stash them first")
    target = resolve(repo, rev)
    clobbered = would_overwrite(repo, target.sha)
    if clobbered:
        raise GitError(f"{target.short} would overwrite files that are not tracked here "
                       f"({', '.join(clobbered[:3])}{', ...' if len(clobbered) > 3 else ''}): "
                       "move them away first")
    git(repo, "checkout", "--quiet", "--detach", target.sha)
    return target.sha


def remotes(repo: Path) -> list[str]:
    return [line for line in git(repo, "remote").splitlines() if line]


def fetch(repo: Path, timeout: float) -> list[str]:
    """Fetch every remote's branches and tags; returns the remotes fetched (none: nothing to do)."""
    names = remotes(repo)
    if names:
        git(repo, "fetch", "--all", "--tags", "--quiet", timeout=timeout, fetching=True)
    return names


def resolve_release(repo: Path, rev: str) -> tuple[Commit, str]:
    """The commit a release name means after a fetch, and how it was found.

    A branch is taken from its remote (as `git pull` would), since a deployed tree's own
    branches are not moved by a fetch; anything else (a hash, a tag) as git resolves it.
    """
    check_revision(rev)
    for remote in remotes(repo):
        if _exists(repo, f"refs/remotes/{remote}/{rev}"):
            return resolve(repo, f"{remote}/{rev}"), f"{rev} is a branch: using {remote}/{rev}"
    try:
        return resolve(repo, rev), ""
    except GitError:
        where = " or on its remotes after the fetch" if remotes(repo) else \
            " (the repository has no remote to fetch it from)"
        raise GitError(f"unknown revision {rev!r}: not a commit, tag or branch in {repo}"
                       f"{where}") from None


def _exists(repo: Path, ref: str) -> bool:
    try:
        git(repo, "rev-parse", "--verify", "--quiet", ref)
    except GitError:
        return False
    return True
