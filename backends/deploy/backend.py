"""The deploy backend: what is deployed, what came before, and rollback as a followed plan."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.base import Backend, Runtime
from backends.deploy import git
from backends.deploy.config import DeployConfig
from backends.deploy.plans import Plan, PlanStore
from backends.deploy.runner import run_lock_key, spawn
from backends.deploy.steps import plan_steps
from console.core.actions import ActionOutcome, ActionSpec, Progress
from console.core.durations import format_age
from console.core.errors import ActionFailed, ActionRefused
from console.core.identity import current_identity
from console.core.locks import TargetLock
from console.core.model import CheckResult, Status

_FOLLOW_EVERY = 0.25


@dataclass(frozen=True)
class DeploySnapshot:
    current: git.Commit
    previous: git.Commit | None
    changes: tuple[git.Commit, ...]
    migrations: tuple[str, ...]
    dirty: bool
    history: tuple[git.ReflogEntry, ...]
    plans: tuple[Plan, ...]
    pre_deploy_backup: str | None = None

    @property
    def last_plan(self) -> Plan | None:
        return self.plans[0] if self.plans else None


def deployed_at(entries: list[git.ReflogEntry], sha: str, before: float | None = None) -> float | None:
    """When HEAD last moved to `sha` (optionally: before a given time)."""
    for entry in entries:  # newest first
        if entry.sha == sha and (before is None or entry.when <= before):
            return entry.when
    return None


def pre_deploy_backup(config: DeployConfig, sections: Mapping[str, list[Any]],
                      reflog: list[git.ReflogEntry], head: str,
                      plans: list[Plan]) -> str | None:
    """The newest verified backup of the deploy's database taken before the bad release.

    The bad release is the one a finished rollback left, or else the one deployed now.
    """
    if not config.database:
        return None
    from backends.postgres.retention import list_backups

    database = next((e for e in sections.get("postgres", []) if e.name == config.database), None)
    if database is None or database.backup is None:
        return None
    last = plans[0] if plans else None
    if last is not None and last.state == "ok" and last.to_rev == head:
        since = deployed_at(reflog, last.from_rev, before=last.created)
    else:
        since = deployed_at(reflog, head)
    for backup in list_backups(database.backup.dir, database.name):
        if backup.verified and (since is None or backup.started < since):
            return backup.path
    return None


def read_snapshot(config: DeployConfig, store: PlanStore,
                  sections: Mapping[str, list[Any]] | None = None) -> DeploySnapshot:
    repo = Path(config.repo)
    if not (repo / ".git").exists():
        raise ActionFailed(f"{repo} is not a git working tree (check 'repo' of [[deploy]] "
                           f"{config.name!r})")
    head = git.current(repo)
    previous = git.previous_release(repo)
    changes: list[git.Commit] = []
    migrations: list[str] = []
    if previous is not None and previous.sha != head.sha:
        changes = git.commits_between(repo, previous.sha, head.sha)
        migrations = git.migration_files(git.changed_files(repo, previous.sha, head.sha))
    reflog = git.reflog(repo, 100)
    history = tuple(e for e in reflog if e.action.startswith(
        ("checkout", "pull", "merge", "reset", "commit", "clone")))[:10]
    plans = store.recent(config.name, 5)
    backup = pre_deploy_backup(config, sections or {}, reflog, head.sha, plans)
    return DeploySnapshot(head, previous, tuple(changes), tuple(migrations),
                          git.is_dirty(repo), history, tuple(plans), backup)


class DeployBackend(Backend[DeploySnapshot]):
    kind = "deploy"

    def __init__(self, config: DeployConfig, runtime: Runtime) -> None:
        super().__init__(config.name, interval=max(runtime.refresh, 5.0),
                         timeout=max(runtime.timeout, 10.0))
        self.config = config
        self.runtime = runtime
        self.store = PlanStore(runtime.state_dir)

    def targets(self) -> list[str]:
        return [f"deploy:{self.name}"]

    async def collect(self) -> DeploySnapshot:
        return await asyncio.to_thread(read_snapshot, self.config, self.store,
                                       self.runtime.sections)

    def evaluate(self, snapshot: DeploySnapshot) -> list[CheckResult]:
        target = f"deploy:{self.name}"
        head = snapshot.current
        summary = f"at {head.short} {head.subject!r} ({format_age(head.date)})"
        if snapshot.previous is not None:
            summary += f" · previous {snapshot.previous.short}"
        plan = snapshot.last_plan
        if plan is not None and not plan.done and plan.runner_alive:
            step = next((i for i, s in enumerate(plan.steps, 1) if s.state == "running"), 0)
            return [CheckResult(target, Status.WARNING,
                                f"rollback running: step {step}/{len(plan.steps)} · {summary}")]
        if plan is not None and plan.state == "failed" and plan.created > head.date:
            return [CheckResult(target, Status.WARNING, f"last rollback failed: {plan.error}",
                                details=summary)]
        if snapshot.dirty:
            return [CheckResult(target, Status.WARNING, f"uncommitted changes · {summary}")]
        return [CheckResult(target, Status.OK, summary)]

    def actions(self, snapshot: DeploySnapshot | None, target: str,
                options: Mapping[str, Any] | None = None) -> list[ActionSpec]:
        options = options or {}
        specs = []
        previous = snapshot.previous if snapshot else None
        to_rev = options.get("to") or (previous.sha if previous else None)
        if to_rev:
            specs.append(self._rollback_spec(target, str(to_rev), bool(options.get("dry_run")),
                                             snapshot, force=bool(options.get("force"))))
        plan = snapshot.last_plan if snapshot else None
        if plan is not None and plan.state == "failed":
            specs.append(self._rollback_spec(target, plan.from_rev, False, snapshot,
                                             verb="roll-forward"))
        backup = options.get("from") or (snapshot.pre_deploy_backup if snapshot else None)
        if backup and self.config.database:
            specs.append(self._restore_spec(target, str(backup)))
        return specs

    def _rollback_spec(self, target: str, to_rev: str, dry_run: bool,
                       snap: DeploySnapshot | None, verb: str = "rollback", *,
                       force: bool = False) -> ActionSpec:
        steps = plan_steps(self.config, to_rev)
        where = snap.current.short if snap else "HEAD"
        listing = "; ".join(f"({n}) {s.title}" for n, s in enumerate(steps, 1))
        effect = f"from {where} to {to_rev[:10]}: {listing}"

        async def run(progress: Progress) -> ActionOutcome:
            # the dry run refuses exactly what the real run refuses
            await asyncio.to_thread(git.rollback_target, Path(self.config.repo), to_rev,
                                    force=force or verb == "roll-forward")
            if dry_run:
                for number, step in enumerate(steps, 1):
                    progress.log(f"{number}. {step.title}")
                return ActionOutcome(True, f"dry run, nothing changed: would roll {self.name} "
                                           f"back {effect}")
            return await self._run_plan(to_rev, progress)

        title = ("Roll forward " if verb == "roll-forward" else "Roll back ") + self.name
        return ActionSpec(verb=verb, target=target, title=title, effect=effect, run=run,
                          backend_id=self.id, mutating=not dry_run,
                          type_to_confirm=None if dry_run else self.name,
                          params={"to": to_rev})

    async def _run_plan(self, to_rev: str, progress: Progress) -> ActionOutcome:
        if self.runtime.config_path is None:
            raise ActionFailed("a rollback needs a config file (the runner reads it)")
        probe = TargetLock(self.runtime.state_dir / "locks", run_lock_key(self.name),
                           current_identity(), "rollback")
        try:
            await asyncio.to_thread(probe.acquire)
        except ActionRefused:
            raise ActionRefused(f"a rollback of {self.name} is already running "
                                f"({probe.holder()})") from None
        probe.release()
        repo = Path(self.config.repo)
        head = await asyncio.to_thread(git.current, repo)
        target = await asyncio.to_thread(git.rollback_target, repo, to_rev, force=True)
        plan = await asyncio.to_thread(self.store.create, self.name, current_identity().user,
                                       head.sha, target.sha, plan_steps(self.config, target.sha))
        progress.log(f"plan {plan.id}: {head.short} -> {target.short}, "
                     f"runner started (it goes on if this console stops)")
        await asyncio.to_thread(spawn, self.runtime.config_path, self.runtime.state_dir, plan.id)
        return await follow(self.store, plan.id, progress)

    def _restore_spec(self, target: str, backup: str) -> ActionSpec:
        database = self.config.database or ""

        async def run(progress: Progress) -> ActionOutcome:
            from backends.deploy.steps import configured_entry
            from backends.postgres.restore import run_restore

            pg = configured_entry(self.runtime.sections, "postgres", database)
            result = await run_restore(pg, Path(backup), swap=True,
                                       timeout=pg.maintenance_timeout, progress=progress)
            kept = f"; the database it replaced is kept as {result.kept_as}" if result.kept_as \
                else ""
            return ActionOutcome(True, f"restored {database} from {Path(backup).name}: "
                                       f"{result.tables} tables, {result.rows} rows proven "
                                       f"against the {result.proven_against}{kept}")

        return ActionSpec(verb="restore", target=target,
                          title=f"Restore database {database} from before the deploy",
                          effect=f"replace database {database} with the verified backup "
                                 f"{backup} taken before the release was deployed (the "
                                 "current database is kept renamed)",
                          run=run, backend_id=self.id, type_to_confirm=database,
                          params={"backup": backup})


async def follow(store: PlanStore, plan_id: str, progress: Progress) -> ActionOutcome:
    """Report a plan's steps and output as the runner writes them, until it ends."""
    shown: dict[int, int] = {}
    started = time.monotonic()
    while True:
        plan = await asyncio.to_thread(store.get, plan_id)
        if plan is None:
            raise ActionFailed(f"plan {plan_id} disappeared from the state database")
        for number, step in enumerate(plan.steps):
            for line in step.output[shown.get(number, 0):]:
                progress.log(f"[{number + 1}] {line}")
            shown[number] = len(step.output)
            if step.state == "running":
                progress.progress(number, len(plan.steps), step.title)
        if plan.done:
            break
        if plan.state == "pending" and time.monotonic() - started > 30:
            raise ActionFailed("the rollback runner did not start within 30s")
        if plan.state == "running" and not plan.runner_alive:
            raise ActionFailed(f"the rollback runner (pid {plan.pid}) died during the plan")
        await asyncio.sleep(_FOLLOW_EVERY)
    if plan.state == "ok":
        return ActionOutcome(True, f"{plan.deploy} is at {plan.to_rev[:10]}: every step passed")
    raise ActionFailed(f"rollback stopped at {plan.error}; to go back, roll forward "
                       f"to {plan.from_rev[:10]} (opsconsole --headless rollback "
                       f"deploy:{plan.deploy} --to {plan.from_rev[:10]})")
