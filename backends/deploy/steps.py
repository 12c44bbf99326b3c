"""The steps of a deploy or a rollback, each calling the backend that owns the work.

Units are stopped, started, restarted and reloaded with the systemd backend's unit actions,
the database is backed up with the PostgreSQL backend's verified backup, health is the HTTP
backend's own check and the watch (watch.py) reads what they and the logs backend read: this
module only orders them.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.deploy import git
from backends.deploy.config import DeployConfig
from backends.deploy.plans import Step
from console.core.actions import ActionOutcome
from console.core.durations import format_span
from console.core.errors import ActionFailed
from console.core.loglines import printable

_HEALTH_EVERY = 1.0


class StepOutput:
    """The Progress a step's callee reports to: lines go into the plan's step output."""

    def __init__(self, step: Step, changed: Callable[[], None],
                 redact: Callable[[str], str] = str) -> None:
        self.step = step
        self._changed = changed
        self._redact = redact

    def progress(self, done: float | None, total: float | None = None, message: str = "") -> None:
        if message:
            self.log(message)

    def log(self, line: str) -> None:
        # Saved in the state db and shown by any console: printable, secrets redacted.
        self.step.add_output(printable(self._redact(line)))
        self._changed()


@dataclass
class PlanContext:
    """What the steps of one plan share while the runner carries it out."""

    deploy: DeployConfig
    sections: Mapping[str, list[Any]]
    state_dir: Path
    to_rev: str  # a deploy's fetch step replaces the name given with the commit it means
    backup_path: str = ""
    watch: float = 0.0
    redact: Callable[[str], str] = str
    baseline: Any = None  # watch.Baseline, measured before a deploy changes anything


StepRunner = Callable[[PlanContext, StepOutput], Awaitable[None]]


def plan_steps(deploy: DeployConfig, to_rev: str) -> list[Step]:
    """The rollback's steps, in order, as the user sees them before confirming."""
    steps = []
    if deploy.database:
        steps.append(Step("backup", f"back up and verify database {deploy.database}"))
    if deploy.units:
        steps.append(Step("stop", "stop " + ", ".join(deploy.units)))
    steps.append(Step("checkout", f"check out {to_rev[:10]} in {deploy.repo}"))
    for command in deploy.after_checkout:
        steps.append(Step("command", "run " + " ".join(command)))
    if deploy.units:
        steps.append(Step("start", "start " + ", ".join(deploy.units)))
    if deploy.health:
        steps.append(Step("health", f"wait until {deploy.health} is healthy "
                                    f"(up to {deploy.health_timeout:g}s)"))
    return steps


def deploy_steps(deploy: DeployConfig, rev: str, watch: float) -> list[Step]:
    """A deploy forward's steps, in order, as the user sees them before confirming.

    Nothing changes until the release is known and the tree is clean: the fetch, the revision
    and the tree come first, then the backup, then the checkout.
    """
    steps = []
    measured = _watched(deploy, watch)
    if measured:
        steps.append(Step("baseline", "measure before the deploy: " + ", ".join(measured)))
    steps.append(Step("fetch", f"git fetch, then find release {rev[:40]}"))
    steps.append(Step("clean", f"refuse to go on if {deploy.repo} has uncommitted changes"))
    if deploy.database:
        steps.append(Step("backup", f"back up and verify database {deploy.database}"))
    steps.append(Step("checkout", f"check out {rev[:40]} in {deploy.repo}"))
    for command in deploy.after_checkout:
        steps.append(Step("command", "run " + " ".join(command)))
    if deploy.restart_units:
        steps.append(Step("restart", "restart in order " + ", ".join(deploy.restart_units)))
    if deploy.reload:
        steps.append(Step("reload", "reload " + ", ".join(deploy.reload)))
    if deploy.health:
        steps.append(Step("health", f"wait until {deploy.health} is healthy "
                                    f"(up to {deploy.health_timeout:g}s)"))
    if watch > 0 and measured:
        steps.append(Step("watch", f"watch for {format_span(watch)}: " + ", ".join(measured)
                                   + " compared to before the deploy"))
    return steps


def _watched(deploy: DeployConfig, watch: float) -> list[str]:
    if watch <= 0:
        return []
    measured = []
    if deploy.health:
        measured.append(f"health of {deploy.health}")
    if deploy.logs:
        measured.append("error rate of " + ", ".join(deploy.logs))
    if deploy.restart_units:
        measured.append("restarts of " + ", ".join(deploy.restart_units))
    return measured


def configured_entry(sections: Mapping[str, list[Any]], section: str, name: str | None) -> Any:
    for entry in sections.get(section, []):
        if getattr(entry, "name", None) == name:
            return entry
    raise ActionFailed(f"no [[{section}]] entry named {name!r}")


async def backup(ctx: PlanContext, out: StepOutput) -> None:
    from backends.postgres.backup import run_backup

    result = await run_backup(configured_entry(ctx.sections, "postgres", ctx.deploy.database), out)
    ctx.backup_path = str(result.path)
    out.log(f"verified backup {result.path} ({result.size} bytes, sha256 {result.sha256[:12]})")


async def _units(ctx: PlanContext, out: StepOutput, verb: str,
                 units: tuple[str, ...] | None = None) -> None:
    from backends.systemd.actions import UnitAction
    from backends.systemd.bus import BusClient

    systemd = systemd_config(ctx)
    client = BusClient(ctx.deploy.bus or systemd.bus)
    units = ctx.deploy.units if units is None else units
    try:
        for unit in units:
            outcome: ActionOutcome = await UnitAction(client, systemd, verb, unit).run(out)
            out.log(outcome.message)
            if not outcome.ok:
                raise ActionFailed(outcome.message)
    finally:
        await client.close()


def systemd_config(ctx: PlanContext) -> Any:
    from backends.systemd.config import parse
    from console.core.configtable import Table
    from console.core.secrets import Redactor

    configured = ctx.sections.get("systemd", [])
    if configured:
        return configured[0]
    units = list(dict.fromkeys(ctx.deploy.units + ctx.deploy.reload))
    return parse(Table({"units": units}, "[[deploy]]", "config", Redactor()))


async def stop(ctx: PlanContext, out: StepOutput) -> None:
    await _units(ctx, out, "stop")


async def start(ctx: PlanContext, out: StepOutput) -> None:
    await _units(ctx, out, "start")


async def restart(ctx: PlanContext, out: StepOutput) -> None:
    await _units(ctx, out, "restart", ctx.deploy.restart_units)


async def reload(ctx: PlanContext, out: StepOutput) -> None:
    await _units(ctx, out, "reload", ctx.deploy.reload)


async def fetch(ctx: PlanContext, out: StepOutput) -> None:
    """Fetch the remotes, then pin the release to the commit it names now."""
    repo = Path(ctx.deploy.repo)
    fetched = await asyncio.to_thread(git.fetch, repo, ctx.deploy.command_timeout)
    out.log(f"fetched {', '.join(fetched)}" if fetched else "no remote: nothing to fetch")
    commit, how = await asyncio.to_thread(git.resolve_release, repo, ctx.to_rev)
    if how:
        out.log(how)
    out.log(f"release {ctx.to_rev} is {commit.short} {commit.subject}")
    ctx.to_rev = commit.sha


async def clean(ctx: PlanContext, out: StepOutput) -> None:
    repo = Path(ctx.deploy.repo)
    if await asyncio.to_thread(git.is_dirty, repo):
        raise ActionFailed(f"{repo} has uncommitted changes: commit or stash them, then deploy "
                           "again (nothing was changed)")
    out.log("the working tree is clean")


async def checkout(ctx: PlanContext, out: StepOutput) -> None:
    repo = Path(ctx.deploy.repo)
    sha = await asyncio.to_thread(git.checkout, repo, ctx.to_rev)
    commit = await asyncio.to_thread(git.resolve, repo, sha)
    out.log(f"HEAD is now {commit.short} {commit.subject}")


async def run_command(ctx: PlanContext, out: StepOutput, argv: tuple[str, ...]) -> None:
    """One after_checkout command in the repo, output captured, killed at its timeout."""
    account = ctx.deploy.user
    as_user: dict[str, Any] = {}
    if account is not None:
        # the app's own account (as `sudo -u app` would), never root's rights
        entry = pwd.getpwnam(account)
        if os.geteuid() != 0 and entry.pw_uid != os.geteuid():
            raise ActionFailed(f"after_checkout runs as {account}, which needs the console "
                               "to run as root (or as that user)")
    if account is not None and os.geteuid() == 0:
        as_user = {"user": entry.pw_uid, "group": entry.pw_gid,
                   "extra_groups": os.getgrouplist(account, entry.pw_gid),
                   "env": os.environ | {"HOME": entry.pw_dir, "USER": account,
                                        "LOGNAME": account}}
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, cwd=ctx.deploy.repo, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, **as_user)
    except OSError as exc:
        raise ActionFailed(f"cannot run {argv[0]}: {exc.strerror}") from None
    assert process.stdout is not None

    async def pump() -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            out.log(raw.decode("utf-8", "replace").rstrip())

    try:
        async with asyncio.timeout(ctx.deploy.command_timeout):
            await pump()
            code = await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise ActionFailed(f"{' '.join(argv)} did not finish within "
                           f"{ctx.deploy.command_timeout:g}s and was killed") from None
    if code != 0:
        raise ActionFailed(f"{' '.join(argv)} exited with status {code}")


async def health(ctx: PlanContext, out: StepOutput) -> None:
    from backends.http.backend import HttpBackend
    from console.core.model import Status

    backend = HttpBackend(configured_entry(ctx.sections, "http", ctx.deploy.health))
    deadline = time.monotonic() + ctx.deploy.health_timeout
    last = ""
    try:
        while True:
            result = backend.evaluate(await backend.collect())[0]
            if result.summary != last:
                out.log(f"{result.status.name}: {result.summary}")
                last = result.summary
            if result.status is Status.OK:
                return
            if time.monotonic() >= deadline:
                raise ActionFailed(f"{ctx.deploy.health} still not healthy after "
                                   f"{ctx.deploy.health_timeout:g}s: {result.summary}")
            await asyncio.sleep(_HEALTH_EVERY)
    finally:
        await backend.close()
