"""cron jobs: the daemon running, each job's schedule, next run, last run and its result.

`[[cron]]` reads crontabs (python-crontab, croniter) and cron's own record of its runs from
the journal (record.py). The entry's target `cron:NAME` says whether a cron daemon runs;
each job is `cron:FILE:LINE` or the name given in `[[cron.jobs]]`. A job whose last run is
older than its latest scheduled time plus `grace` is WARNING ("missed run"); one whose last
run exited non-zero (cron logs it with `-L 4`) is CRITICAL. A job can be run now.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psutil

from backends.base import Backend, BackendKind, Runtime
from backends.cron.config import CronConfig, parse, validate
from backends.cron.record import Run, read_runs
from backends.cron.run import run_now
from backends.cron.tabs import CronJob, expand, read_file
from console.core.actions import ActionSpec, Progress
from console.core.counts import counted
from console.core.durations import clock, format_span
from console.core.errors import ConsoleError, one_line
from console.core.model import CheckResult, Status

DAEMON_NAMES = frozenset({"cron", "crond"})
_OVERLAP = 120.0  # re-read this much of the journal each poll, for runs still being logged


@dataclass(frozen=True)
class JobState:
    job: CronJob
    grace: float
    created: float | None  # the crontab file's mtime: no run is owed from before it
    last_run: Run | None
    previous_due: float | None  # the latest scheduled time at least `grace` ago
    next_due: float | None


@dataclass(frozen=True)
class CronSnapshot:
    name: str
    polled_at: float
    daemon_pids: tuple[int, ...] | None  # None: not checked
    files: tuple[str, ...]
    jobs: tuple[JobState, ...]
    problems: tuple[str, ...]
    record_error: str | None
    record_since: float

    def job(self, name: str) -> JobState | None:
        return next((j for j in self.jobs if j.job.name == name), None)


def build(entries: list[CronConfig], runtime: Runtime) -> list[Backend]:
    return [CronBackend(entry, runtime) for entry in entries]


def _daemon_pids() -> tuple[int, ...]:
    return tuple(sorted(p.pid for p in psutil.process_iter(["name"])
                        if p.info["name"] in DAEMON_NAMES))


class CronBackend(Backend[CronSnapshot]):
    kind = "cron"
    unreachable_status = Status.UNKNOWN

    def __init__(self, config: CronConfig, runtime: Runtime) -> None:
        super().__init__(config.name, interval=config.interval or max(runtime.refresh, 15.0),
                         timeout=config.timeout + 2.0)
        self.config = config
        self.known: tuple[str, ...] = ()
        self._last_runs: dict[tuple[str, str], Run] = {}  # (user, command) -> newest run
        self._read_until: float | None = None
        self._jobs: dict[str, CronJob] = {}

    # -- reading --------------------------------------------------------------------------
    def _read_tabs(self) -> tuple[list[tuple[CronJob, float | None]], list[str], list[str]]:
        files = expand(self.config.crontabs)
        jobs: list[tuple[CronJob, float | None]] = []
        problems: list[str] = []
        for path in files:
            found, bad = read_file(path)
            try:
                mtime: float | None = os.stat(path).st_mtime
            except OSError:
                mtime = None
            jobs += [(job, mtime) for job in found]
            problems += [p.message for p in bad]
        return self._named(jobs), problems, files

    def _named(self, jobs: list[tuple[CronJob, float | None]]) -> list[tuple[CronJob, float | None]]:
        """Jobs given a name in `[[cron.jobs]]` take it (the first job that matches)."""
        out = list(jobs)
        for named in self.config.jobs:
            for index, (job, mtime) in enumerate(out):
                if named.match.search(job.command):
                    out[index] = (CronJob(named.name, job.file, job.line, job.schedule, job.user,
                                          job.command, job.shell_command, job.stdin,
                                          job.reboot), mtime)
                    break
        return out

    async def _read_record(self, now: float) -> tuple[str | None, float]:
        floor = now - self.config.history
        since = floor if self._read_until is None else max(floor, self._read_until - _OVERLAP)
        unfinished = [r.started for r in self._last_runs.values() if not r.ended]
        if unfinished:
            since = max(floor, min(since, min(unfinished) - 1))
        try:
            runs = await read_runs(self.config.journal_dir, since, self.config.timeout)
        except ConsoleError as exc:
            return one_line(exc), since
        for run in runs:
            key = (run.user, run.command)
            held = self._last_runs.get(key)
            if held is None or run.started >= held.started:
                self._last_runs[key] = run
        self._read_until = now
        return None, floor

    def _last_run(self, job: CronJob) -> Run | None:
        exact = self._last_runs.get((job.user, job.command))
        if exact is not None:
            return exact
        candidates = [r for (user, command), r in self._last_runs.items()
                      if user == job.user and job.shell_command
                      and command.startswith(job.shell_command)]
        return max(candidates, key=lambda r: r.started, default=None)

    async def collect(self) -> CronSnapshot:
        now = time.time()
        tabs, problems, files = await asyncio.to_thread(self._read_tabs)
        daemon = await asyncio.to_thread(_daemon_pids) if self.config.daemon else None
        record_error, record_since = await self._read_record(now)
        states = []
        for job, mtime in tabs:
            grace = next((n.grace for n in self.config.jobs if n.name == job.name
                          and n.grace is not None), self.config.grace)
            local_now = datetime.fromtimestamp(now)
            due = job.previous_run(local_now - timedelta(seconds=grace))
            upcoming = job.next_run(local_now)
            states.append(JobState(job, grace, mtime, self._last_run(job),
                                   due.timestamp() if due else None,
                                   upcoming.timestamp() if upcoming else None))
        self._jobs = {job.name: job for job, _ in tabs}
        self.known = tuple(self._jobs)
        return CronSnapshot(self.config.name, now, daemon, tuple(files), tuple(states),
                            tuple(problems), record_error, record_since)

    # -- checks ---------------------------------------------------------------------------
    def evaluate(self, snapshot: CronSnapshot) -> list[CheckResult]:
        return [self._daemon_check(snapshot),
                *(self._job_check(state, snapshot) for state in snapshot.jobs)]

    def _daemon_check(self, snapshot: CronSnapshot) -> CheckResult:
        target = f"cron:{self.config.name}"
        details = "\n".join(snapshot.problems)
        jobs = f"{len(snapshot.jobs)} jobs in {len(snapshot.files)} crontabs"
        if snapshot.daemon_pids is not None and not snapshot.daemon_pids:
            return CheckResult(target, Status.CRITICAL, f"no cron daemon runs: no job will run "
                               f"({jobs}; start it: systemctl start cron)", details=details)
        if not snapshot.files:
            return CheckResult(target, Status.WARNING,
                               f"no crontab found at {', '.join(self.config.crontabs)}")
        running = (f"cron running (PID {', '.join(map(str, snapshot.daemon_pids))}), "
                   if snapshot.daemon_pids else "")
        if snapshot.problems:
            return CheckResult(target, Status.WARNING, f"{running}{jobs} · "
                               f"{counted(len(snapshot.problems), 'line')} "
                               "cron cannot read: "
                               f"{snapshot.problems[0]}", details=details)
        return CheckResult(target, Status.OK, f"{running}{jobs}")

    def _job_check(self, state: JobState, snapshot: CronSnapshot) -> CheckResult:
        job, run = state.job, state.last_run
        schedule = f"{job.schedule} {job.user}"
        upcoming = f" · next {clock(state.next_due)}" if state.next_due else ""
        details = f"{job.file}:{job.line}\n{job.schedule} {job.user} {job.command}"
        if snapshot.record_error is not None and run is None:
            return CheckResult(job.target, Status.UNKNOWN, f"{schedule} · last run unknown: "
                               f"{snapshot.record_error}{upcoming}", details=details)
        last = "never seen" if run is None else f"last {clock(run.started)}"
        if run is not None and run.failed:
            return CheckResult(job.target, Status.CRITICAL,
                               f"{schedule} · {last} failed (exit {run.exit_status}){upcoming}",
                               details=details)
        due = state.previous_due
        owed = due is not None and due >= snapshot.record_since and (
            state.created is None or due >= state.created)
        if owed and due is not None and (run is None or run.started < due - 1):
            seen = (f"no run in cron's record of the last "
                    f"{format_span(snapshot.polled_at - snapshot.record_since)}" if run is None
                    else f"last ran {format_span(snapshot.polled_at - run.started)} ago")
            return CheckResult(job.target, Status.WARNING,
                               f"{schedule} · missed run: due {clock(due)}, {seen}{upcoming}",
                               details=details)
        result = ""
        if run is not None:
            result = " running" if not run.ended and run.exit_status is None else " ok"
        return CheckResult(job.target, Status.OK, f"{schedule} · {last}{result}{upcoming}",
                           details=details)

    # -- targets and actions --------------------------------------------------------------
    def targets(self) -> list[str]:
        """The daemon check and every job; before a poll, the jobs named in config."""
        names = self.known or tuple(job.name for job in self.config.jobs)
        return [f"cron:{self.config.name}", *(f"cron:{name}" for name in names)]

    def answers_for(self, target: str) -> bool:
        if target in self.targets():
            return True
        kind, _, name = target.partition(":")
        return kind == "cron" and not self.known and ":" in name  # FILE:LINE, read at the poll

    def actions(self, snapshot: CronSnapshot | None, target: str,
                options: Mapping[str, Any] | None = None) -> list[ActionSpec]:
        name = target.partition(":")[2]
        job = self._jobs.get(name)
        if job is None:
            return []
        timeout = self.config.action_timeout

        async def run(progress: Progress) -> Any:
            return await run_now(job, timeout, progress)

        return [ActionSpec(
            verb="run", target=target, title=f"Run {job.name} now",
            effect=f"run `{job.shell_command}` now as {job.user} (from {job.file} line "
                   f"{job.line}), outside its schedule; wait up to {timeout:g}s for it",
            run=run, backend_id=self.id, params={"job": job.name})]


KIND = BackendKind(section="cron", parse=parse, build=build, validate=validate)
