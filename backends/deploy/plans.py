"""Deploy and rollback plans in the state database, written by the runner, read by any console.

A plan outlives the console that started it: the runner process updates its row step by step,
and a console opened later finds the running or finished plan here and follows it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from console.core import statedb

MAX_OUTPUT_LINES = 200
START_GRACE = 30.0  # seconds a new plan may wait for its runner to start
_SCHEMA = """
CREATE TABLE IF NOT EXISTS deploy_plans (
    id TEXT PRIMARY KEY,
    deploy TEXT NOT NULL,
    created REAL NOT NULL,
    who TEXT NOT NULL,
    from_rev TEXT NOT NULL,
    to_rev TEXT NOT NULL,
    state TEXT NOT NULL,
    steps TEXT NOT NULL,
    backup TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    pid INTEGER NOT NULL DEFAULT 0,
    finished REAL
)
"""
# Columns added after the table first shipped: (name, definition), added when missing.
_ADDED = (("kind", "TEXT NOT NULL DEFAULT 'rollback'"),
          ("options", "TEXT NOT NULL DEFAULT '{}'"),
          ("next_plan", "TEXT NOT NULL DEFAULT ''"))
_COLUMNS = ("id, deploy, created, who, from_rev, to_rev, state, steps, backup, error, pid, "
            "finished, kind, options, next_plan")


@dataclass
class Step:
    name: str
    title: str
    state: str = "pending"  # pending, running, ok, failed, skipped
    started: float | None = None
    finished: float | None = None
    output: list[str] = field(default_factory=list)

    def add_output(self, line: str) -> None:
        self.output.append(line)
        del self.output[:-MAX_OUTPUT_LINES]


@dataclass
class Plan:
    id: str
    deploy: str
    created: float
    who: str
    from_rev: str
    to_rev: str
    state: str  # pending, running, ok, failed
    steps: list[Step]
    backup: str = ""
    error: str = ""
    pid: int = 0
    finished: float | None = None
    kind: str = "rollback"  # rollback, deploy
    options: dict[str, Any] = field(default_factory=dict)  # deploy: watch, auto_rollback
    next_plan: str = ""  # the rollback a deploy started by itself (--auto-rollback)

    @property
    def done(self) -> bool:
        return self.state in ("ok", "failed")

    @property
    def runner_alive(self) -> bool:
        if not self.pid:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return _not_zombie(self.pid)

    @property
    def interrupted(self) -> bool:
        """Not finished, and no runner carries it on: its runner died (killed, the machine
        rebooted) or never started."""
        if self.done:
            return False
        if self.state == "running":
            return not self.runner_alive
        return time.time() - self.created > START_GRACE

    def stopped_at(self) -> str:
        """Where an interrupted plan stopped: "step 3/5 (check out abc1234567 in /opt/app)"."""
        number, step = next(((n, s) for n, s in enumerate(self.steps, 1)
                             if s.state == "running"), (0, None))
        if step is None:
            return "before its first step (its runner never started)"
        return f"step {number}/{len(self.steps)} ({step.title})"

    def mark_interrupted(self) -> None:
        """Close an interrupted plan as failed, saying where it stopped."""
        where = self.stopped_at()
        for step in self.steps:
            if step.state in ("running", "pending"):
                step.state = "failed" if step.state == "running" else "skipped"
        self.state, self.finished = "failed", time.time()
        runner = f"its runner (pid {self.pid}) is gone" if self.pid else "no runner took it"
        self.error = f"interrupted at {where}: {runner}"

    def describe(self) -> str:
        lines = [f"{self.kind.capitalize()} of {self.deploy}: {self.from_rev[:10]} -> "
                 f"{self.to_rev[:10]}"]
        for number, step in enumerate(self.steps, start=1):
            lines.append(f"  {number}. {step.title}")
        return "\n".join(lines)


def _not_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class PlanStore:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def _connect(self) -> Any:
        connection = statedb.connect(self.state_dir)
        connection.execute(_SCHEMA)
        have = {row[1] for row in connection.execute("PRAGMA table_info(deploy_plans)")}
        for name, definition in _ADDED:
            if name not in have:
                try:
                    connection.execute(f"ALTER TABLE deploy_plans ADD COLUMN {name} {definition}")
                except sqlite3.OperationalError:  # another process added it meanwhile
                    pass
        return connection

    def create(self, deploy: str, who: str, from_rev: str, to_rev: str, steps: list[Step],
               kind: str = "rollback", options: dict[str, Any] | None = None) -> Plan:
        plan = Plan(uuid.uuid4().hex[:12], deploy, time.time(), who, from_rev, to_rev,
                    "pending", steps, kind=kind, options=dict(options or {}))
        self.save(plan)
        return plan

    def save(self, plan: Plan) -> None:
        steps = json.dumps([asdict(s) for s in plan.steps])
        connection = self._connect()
        try:
            connection.execute(
                f"INSERT INTO deploy_plans ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT(id) DO UPDATE SET state=excluded.state, steps=excluded.steps, "
                "backup=excluded.backup, error=excluded.error, pid=excluded.pid, "
                "finished=excluded.finished, to_rev=excluded.to_rev, "
                "next_plan=excluded.next_plan",
                (plan.id, plan.deploy, plan.created, plan.who, plan.from_rev, plan.to_rev,
                 plan.state, steps, plan.backup, plan.error, plan.pid, plan.finished,
                 plan.kind, json.dumps(plan.options), plan.next_plan))
        finally:
            connection.close()

    def get(self, plan_id: str) -> Plan | None:
        rows = self._select("WHERE id = ?", (plan_id,))
        return rows[0] if rows else None

    def recent(self, deploy: str, limit: int = 20) -> list[Plan]:
        return self._select("WHERE deploy = ? ORDER BY created DESC LIMIT ?", (deploy, limit))

    def unfinished(self, deploy: str) -> list[Plan]:
        """Plans of `deploy` that are neither ok nor failed, oldest first."""
        return self._select("WHERE deploy = ? AND state NOT IN ('ok', 'failed') "
                            "ORDER BY created", (deploy,))

    def _select(self, where: str, args: tuple[Any, ...]) -> list[Plan]:
        connection = self._connect()
        try:
            rows = connection.execute(f"SELECT {_COLUMNS} FROM deploy_plans {where}",
                                      args).fetchall()
        finally:
            connection.close()
        plans = []
        for (plan_id, deploy, created, who, from_rev, to_rev, state, steps, backup, error, pid,
             finished, kind, options, next_plan) in rows:
            plans.append(Plan(plan_id, deploy, created, who, from_rev, to_rev, state,
                              [Step(**s) for s in json.loads(steps)], backup, error, pid,
                              finished, kind, json.loads(options), next_plan))
        return plans
