"""What a headless check run does around its polls: heartbeat, silences, notifications, textfile.

Everything is bounded by the run's deadline and nothing here changes the check's verdict
except silences (a silenced target does not raise the exit code). What went wrong on the
way (a failed delivery, a heartbeat that did not answer) becomes lines of the check output.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from console.config import Config
from console.core.errors import one_line
from console.core.loglines import printable
from console.core.model import CheckResult, Status
from console.heartbeat import ping
from console.notify import NotifyReport, NotifyState, plan, send_all
from console.silences import Silences
from console.transitions import TransitionLog, target_statuses

HEARTBEAT_TIMEOUT = 5.0


@dataclass
class AlertRun:
    """One check run's alerting: started before the polls, finished after them."""

    config: Config
    deadline_at: float  # time.monotonic() by which the whole run ends
    host: str
    started: float = field(default_factory=time.monotonic)
    notes: list[str] = field(default_factory=list)  # lines for the check output
    report: NotifyReport = field(default_factory=NotifyReport)

    def begin(self) -> None:
        """Tell the heartbeat the job started."""
        url = self.config.console.heartbeat
        if url:
            self._ping(url, None, "")

    def silenced(self, checks: list[CheckResult]) -> dict[str, str]:
        """target -> who, why and until, for the targets an active silence covers."""
        try:
            active = Silences(self.config.console.state_dir).active()
        except (sqlite3.Error, OSError) as exc:
            self.notes.append(f"SILENCES - could not be read: {exc}")
            return {}
        found: dict[str, str] = {}
        for target in sorted({c.target for c in checks}):
            covering = [s for s in active if s.covers(target)]
            if covering:
                found[target] = printable(max(covering, key=lambda s: s.until).describe())
        return found

    def finish(self, checks: list[CheckResult], silenced: dict[str, str], status: Status,
               summary: str, prometheus: Path | None) -> None:
        """Notifications, the textfile and the closing heartbeat, within the deadline."""
        if self.config.notify:
            self._notify(checks, silenced)
        if prometheus is not None:
            from console.prometheus import render, write_textfile

            try:
                write_textfile(prometheus, render(checks, set(silenced),
                                                  time.monotonic() - self.started, time.time()))
            except OSError as exc:
                self.notes.append(f"PROMETHEUS - {prometheus} not written: {one_line(exc)}")
        url = self.config.console.heartbeat
        if url:
            self._ping(url, status, summary)

    def _notify(self, checks: list[CheckResult], silenced: dict[str, str]) -> None:
        state_dir = self.config.console.state_dir
        silences = Silences(state_dir)
        now = time.time()
        try:
            expired = silences.newly_expired(now)
            active = {t: s for t in {c.target for c in checks}
                      if (s := silences.for_target(t, now)) is not None}
            planned = plan(self.config.notify, target_statuses(checks), active, expired,
                           TransitionLog(state_dir, self.config.console.retention),
                           NotifyState(state_dir), self.host, now)
            silences.mark_told(expired)
        except (sqlite3.Error, OSError) as exc:
            self.notes.append(f"NOTIFY - state database unusable, nothing sent: {exc}")
            return
        # Leave the closing heartbeat its share of the time.
        reserve = HEARTBEAT_TIMEOUT / 2 if self.config.console.heartbeat else 0.0
        self.report = send_all(self.config.notify, planned, NotifyState(state_dir),
                               self.config.redactor, self.deadline_at - reserve, now)
        self.notes.extend(self.report.lines())

    def _ping(self, url: str, status: Status | None, body: str) -> None:
        left = self.deadline_at - time.monotonic()
        error = ping(url, status, self.config.redactor(body), min(HEARTBEAT_TIMEOUT, left))
        if error:
            what = "start" if status is None else "end"
            self.notes.append(f"HEARTBEAT - {what} ping failed: "
                              f"{printable(self.config.redactor(error))}")
