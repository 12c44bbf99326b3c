"""A program's stdout and stderr logs, followed through supervisord's own tail calls.

Works for a supervisord on another machine too (no file access needed): each read asks for
what the log gained since the last offset, as `supervisorctl tail -f` does.
"""

from __future__ import annotations

import time

from backends.supervisor.rpc import RpcError, SupervisorRpc
from console.core.loglines import LogLine, printable

_CHUNK = 64 * 1024


class ProgramLogSource:
    """One stream (stdout or stderr) of one program, for the shared log pane."""

    def __init__(self, rpc: SupervisorRpc, program: str, stream: str, backlog: int = 4096) -> None:
        self.label = f"program:{program} {stream}"
        self._rpc = rpc
        self._program = program
        self._stream = stream
        self._backlog = backlog
        self._offset: int | None = None
        self._pending = ""
        self._status: str | None = None

    @property
    def status(self) -> str | None:
        return self._status

    def read(self) -> list[LogLine]:
        try:
            if self._offset is None:
                text, self._offset = self._rpc.tail(self._program, self._stream, self._backlog)
                if self._offset > self._backlog:  # started mid-line: drop the partial first line
                    text = text.partition("\n")[2]
            else:
                text, self._offset = self._rpc.read_from(self._program, self._stream,
                                                         self._offset, _CHUNK)
        except RpcError as exc:
            self._status = str(exc)
            return []
        self._status = None
        complete, _, self._pending = (self._pending + text).rpartition("\n")
        now = time.time()
        return [LogLine(now, printable(line), "", self.label)
                for line in complete.split("\n") if complete and line]

    def close(self) -> None:
        self._offset = None
