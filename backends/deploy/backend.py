"""The deploy backend: what is deployed, what came before; deploy and rollback as followed plans.

Both are plans (steps.py) carried out by one detached runner (runner.py); the console that
asks for one creates its plan, starts the runner and follows the plan's row in the state db.
"""

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
from backends.deploy.plans import Plan, PlanStore, Step
from backends.deploy.runner import run_lock_key, spawn
from backends.deploy.steps import deploy_steps, plan_steps
from console.core.actions import ActionOutcome, ActionSpec, Progress
from console.core.counts import counted
from console.core.durations import format_age, format_span
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
    if last is not None and last.kind == "rollback" and last.state == "ok" \
            and last.to_rev == head:
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
        if plan is not None and plan.interrupted:
            return [CheckResult(target, Status.WARNING,
                                f"{plan.kind} to {plan.to_rev[:10]} interrupted at "
                                f"{plan.stopped_at()}: run it again, or roll back to "
                                f"{plan.from_rev[:10]} · {summary}")]
        if plan is not None and not plan.done and plan.runner_alive:
            step = next((i for i, s in enumerate(plan.steps, 1) if s.state == "running"), 0)
            return [CheckResult(target, Status.WARNING,
                                f"{plan.kind} running: step {step}/{len(plan.steps)} · "
                                f"{summary}")]
        if plan is not None and plan.kind == "deploy" and plan.state == "failed" \
                and not plan.next_plan and plan.to_rev == head.sha:
            return [CheckResult(target, Status.WARNING,
                                f"deploy failed: {plan.error}; roll back to "
                                f"{plan.from_rev[:10]} (R on the Deploy view)", details=summary)]
        if plan is not None and plan.state == "failed" and plan.created > head.date:
            return [CheckResult(target, Status.WARNING, f"last {plan.kind} failed: {plan.error}",
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
        rev = options.get("to")
        if rev:
            specs.append(self._deploy_spec(target, str(rev), options, snapshot))
        plan = snapshot.last_plan if snapshot else None
        if plan is not None and plan.kind == "rollback" and plan.done and snapshot is not None \
                and plan.from_rev != snapshot.current.sha:
            # back to the release the rollback left, whether the rollback finished or not
            specs.append(self._rollback_spec(target, plan.from_rev, bool(options.get("dry_run")),
                                             snapshot, verb="roll-forward"))
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
        if snap is not None and snap.migrations and verb == "rollback":
            effect += (f". NOTE: {len(snap.migrations)} migration file(s) changed since "
                       f"{to_rev[:10]} ({', '.join(snap.migrations[:3])}): the database schema "
                       "is NOT rolled back unless you also restore the pre-deploy backup "
                       "(B in the Deploy view, or restore deploy:NAME)")

        async def run(progress: Progress) -> ActionOutcome:
            # the dry run refuses exactly what the real run refuses
            await asyncio.to_thread(git.rollback_target, Path(self.config.repo), to_rev,
                                    force=force or verb == "roll-forward")
            if dry_run:
                for number, step in enumerate(steps, 1):
                    progress.log(f"{number}. {step.title}")
                return ActionOutcome(True, f"dry run, nothing changed: would roll {self.name} "
                                           f"back {effect}")
            return await self._run_rollback(to_rev, progress)

        title = ("Roll forward " if verb == "roll-forward" else "Roll back ") + self.name
        return ActionSpec(verb=verb, target=target, title=title, effect=effect, run=run,
                          backend_id=self.id, mutating=not dry_run,
                          type_to_confirm=None if dry_run else self.name,
                          params={"to": to_rev})

    def _deploy_spec(self, target: str, rev: str, options: Mapping[str, Any],
                     snap: DeploySnapshot | None) -> ActionSpec:
        dry_run = bool(options.get("dry_run"))
        auto = bool(options.get("auto_rollback"))
        watch = float(options["watch"]) if options.get("watch") is not None \
            else self.config.watch
        steps = deploy_steps(self.config, rev, watch)
        where = snap.current.short if snap else "HEAD"
        listing = "; ".join(f"({n}) {s.title}" for n, s in enumerate(steps, 1))
        after = (f"on a failure once checked out, roll back to {where} automatically" if auto
                 else f"on a failure once checked out, the rollback to {where} is offered")
        effect = f"from {where} to {rev}: {listing}; {after}"

        async def run(progress: Progress) -> ActionOutcome:
            git.check_revision(rev)
            if dry_run:
                for number, step in enumerate(steps, 1):
                    progress.log(f"{number}. {step.title}")
                here = await asyncio.to_thread(_resolves_here, Path(self.config.repo), rev)
                progress.log(f"{rev} is {here.short} {here.subject} here" if here else
                             f"{rev} is not in the repository yet: the fetch must find it")
                return ActionOutcome(True, f"dry run, nothing changed: would deploy {self.name} "
                                           f"{effect}")
            return await self._run_deploy(rev, watch, auto, progress)

        unavailable = None
        if snap is not None and snap.dirty and not dry_run:
            unavailable = (f"{self.config.repo} has uncommitted changes: commit or stash them "
                           f"before deploying {self.name}")
        return ActionSpec(verb="deploy", target=target, title=f"Deploy {rev} to {self.name}",
                          effect=effect, run=run, backend_id=self.id, mutating=not dry_run,
                          type_to_confirm=None if dry_run else self.name,
                          params={"to": rev, "watch": watch, "auto_rollback": auto},
                          unavailable=unavailable)

    async def _run_deploy(self, rev: str, watch: float, auto: bool,
                          progress: Progress) -> ActionOutcome:
        repo = Path(self.config.repo)
        if await asyncio.to_thread(git.is_dirty, repo):
            raise ActionRefused(f"{repo} has uncommitted changes: commit or stash them before "
                                f"deploying {self.name}")
        here = await asyncio.to_thread(_resolves_here, repo, rev)
        if here is None and not await asyncio.to_thread(git.remotes, repo):
            raise ActionFailed(f"unknown revision {rev!r}: not a commit, tag or branch in {repo}, "
                               "which has no remote to fetch it from")
        return await self._start_plan("deploy", rev, deploy_steps(self.config, rev, watch),
                                      progress, {"watch": watch, "auto_rollback": auto})

    async def _run_rollback(self, to_rev: str, progress: Progress) -> ActionOutcome:
        target = await asyncio.to_thread(git.resolve, Path(self.config.repo), to_rev)
        return await self._start_plan("rollback", target.sha,
                                      plan_steps(self.config, target.sha), progress)

    async def _start_plan(self, kind: str, to_rev: str, steps: list[Step], progress: Progress,
                          options: dict[str, Any] | None = None) -> ActionOutcome:
        if self.runtime.config_path is None:
            raise ActionFailed(f"a {kind} needs a config file (the runner reads it)")
        probe = TargetLock(self.runtime.state_dir / "locks", run_lock_key(self.name),
                           current_identity(), kind)
        try:
            await asyncio.to_thread(probe.acquire)
        except ActionRefused:
            raise ActionRefused(f"a deploy or rollback of {self.name} is already running "
                                f"({probe.holder()})") from None
        try:
            # holding the runner's lock: no runner carries on an unfinished plan
            for stale in await asyncio.to_thread(self._close_interrupted):
                progress.log(f"the {stale.kind} to {stale.to_rev[:10]} started "
                             f"{format_age(stale.created)} (plan {stale.id}) was {stale.error}; "
                             f"this {kind} runs every step again")
        finally:
            probe.release()
        head = await asyncio.to_thread(git.current, Path(self.config.repo))
        plan = await asyncio.to_thread(self.store.create, self.name, current_identity().user,
                                       head.sha, to_rev, steps, kind, options)
        progress.log(f"{kind} plan {plan.id}: {head.short} -> {to_rev[:10]}, "
                     f"runner started (it goes on if this console stops)")
        await asyncio.to_thread(spawn, self.runtime.config_path, self.runtime.state_dir, plan.id)
        return await follow(self.store, plan.id, progress)

    def _close_interrupted(self) -> list[Plan]:
        closed = []
        for plan in self.store.unfinished(self.name):
            if plan.interrupted:
                plan.mark_interrupted()
                self.store.save(plan)
                closed.append(plan)
        return closed

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
            proven = f"{counted(result.tables, 'table')}, {counted(result.rows, 'row')}"
            return ActionOutcome(True, f"restored {database} from {Path(backup).name}: "
                                       f"{proven} proven against the {result.proven_against}"
                                       f"{kept}")

        return ActionSpec(verb="restore", target=target,
                          title=f"Restore database {database} from before the deploy",
                          effect=f"replace database {database} with the verified backup "
                                 f"{backup} taken before the release was deployed (the "
                                 "current database is kept renamed)",
                          run=run, backend_id=self.id, type_to_confirm=database,
                          params={"backup": backup})


def _resolves_here(repo: Path, rev: str) -> git.Commit | None:
    try:
        return git.resolve(repo, rev)
    except git.GitError:
        return None


async def follow(store: PlanStore, plan_id: str, progress: Progress) -> ActionOutcome:
    """Report a plan's steps and output as the runner writes them, until it ends; a deploy
    that rolled itself back is followed into its rollback."""
    plan = await _follow_one(store, plan_id, progress)
    if plan.state == "ok":
        if plan.kind == "deploy":
            return ActionOutcome(True, f"{plan.deploy} is at {plan.to_rev[:10]}: deployed, "
                                       f"every step passed{_watched(plan)}")
        return ActionOutcome(True, f"{plan.deploy} is at {plan.to_rev[:10]}: every step passed")
    if plan.kind == "rollback":
        raise ActionFailed(f"rollback stopped at {plan.error}; to go back, roll forward "
                           f"to {plan.from_rev[:10]} (opsconsole --headless rollback "
                           f"deploy:{plan.deploy} --to {plan.from_rev[:10]})")
    if plan.next_plan:
        progress.log(f"rolling back to {plan.from_rev[:10]} (plan {plan.next_plan})")
        back = await _follow_one(store, plan.next_plan, progress)
        if back.state == "ok":
            raise ActionFailed(f"deploy of {plan.to_rev[:10]} failed at {plan.error}; rolled "
                               f"back automatically: {plan.deploy} is at "
                               f"{plan.from_rev[:10]} again, every rollback step passed")
        raise ActionFailed(f"deploy of {plan.to_rev[:10]} failed at {plan.error}; the "
                           f"automatic rollback failed too at {back.error}")
    checked_out = any(s.name == "checkout" and s.state in ("ok", "failed") for s in plan.steps)
    advice = (f"; to go back: opsconsole --headless rollback deploy:{plan.deploy} --to "
              f"{plan.from_rev[:10]}") if checked_out else "; nothing was changed"
    raise ActionFailed(f"deploy stopped at {plan.error}{advice}")


def _watched(plan: Plan) -> str:
    watch = float(plan.options.get("watch") or 0)
    ran = any(s.name == "watch" and s.state == "ok" for s in plan.steps)
    return f" and no regression in its {format_span(watch)} watch" if ran else ""


async def _follow_one(store: PlanStore, plan_id: str, progress: Progress) -> Plan:
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
            return plan
        if plan.state == "pending" and time.monotonic() - started > 30:
            raise ActionFailed(f"the {plan.kind} runner did not start within 30s")
        if plan.state == "running" and not plan.runner_alive:
            raise ActionFailed(f"the {plan.kind} runner (pid {plan.pid}) died during the plan")
        await asyncio.sleep(_FOLLOW_EVERY)
