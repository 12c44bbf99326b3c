"""Reading a deploy's git working tree: current commit, previous release, what changed.

Every git call is an argument list with a timeout; revisions from the user are checked
before they reach git.
"""

from __future__ import annotations

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


def git(repo: Path, *args: str, timeout: float = GIT_TIMEOUT) -> str:
    """Run git in `repo` and return its stdout; raise GitError with git's message."""
    try:
        result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                                timeout=timeout, check=False)
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
    out = git(repo, "diff", "--name-only", check_revision(older), check_revision(newer), "--")
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


def checkout(repo: Path, rev: str) -> str:
    """Check out a revision (detached), refusing to throw away local changes."""
    if is_dirty(repo):
        raise GitError(f"{repo} has uncommitted changes: commit or stash them first")
    target = resolve(repo, rev)
    git(repo, "checkout", "--quiet", "--detach", target.sha)
    return target.sha
