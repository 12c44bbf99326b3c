"""`[[command]]` checks: run a monitoring plugin and take its verdict as a check.

Any program following the monitoring-plugins conventions works (Debian's `check_disk`,
`check_procs`, home-made scripts): exit code 0/1/2/3 is OK/WARNING/CRITICAL/UNKNOWN, the
first output line is the summary, `|` starts performance data, further lines are the long
text. The program runs from an argument list (no shell), in its own process group, and is
killed with that group when it outlives its timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
from dataclasses import dataclass
from typing import Any

from backends.base import Backend, BackendKind, Runtime, unique_names
from console.core.configtable import Table
from console.core.loglines import printable
from console.core.model import CheckResult, Perf, Status

MAX_OUTPUT = 64 * 1024
_PERF_ITEM = re.compile(r"('(?:[^']|'')+'|[^'=\s]+)=(\S+)")
_PERF_VALUE = re.compile(r"^(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)([^;\d-][^;]*)?$")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$")


@dataclass(frozen=True)
class CommandConfig:
    name: str
    argv: tuple[str, ...]
    timeout: float
    interval: float


def parse(table: Table) -> CommandConfig:
    config = CommandConfig(
        name=table.name(), argv=tuple(table.argv("command")),
        timeout=table.duration("timeout", 10.0), interval=table.duration("interval", 60.0))
    table.check(config.timeout > 0, "timeout", "must be more than 0")
    table.done()
    return config


def validate(entries: list[CommandConfig], sections: dict[str, list[Any]]) -> None:
    unique_names("command", [entry.name for entry in entries])


def build(entries: list[CommandConfig], runtime: Runtime) -> list[Backend]:
    return [CommandBackend(entry) for entry in entries]


@dataclass(frozen=True)
class PluginOutput:
    status: Status
    summary: str
    perfdata: tuple[Perf, ...]
    long_text: str


@dataclass(frozen=True)
class CommandSnapshot:
    output: PluginOutput
    duration: float


def _float(text: str) -> float | None:
    return float(text) if _NUMBER.match(text) else None


def parse_perfdata(text: str) -> list[Perf]:
    """`'label'=value[UOM];warn;crit;min;max ...`; ranges such as `10:20` keep no threshold."""
    items = []
    for match in _PERF_ITEM.finditer(text):
        label = match.group(1)
        if label.startswith("'"):
            label = label[1:-1].replace("''", "'")
        fields = match.group(2).split(";")
        value = _PERF_VALUE.match(fields[0])
        if value is None:  # "U" (unknown) or garbage: leave the item out
            continue
        extra = [_float(f) for f in fields[1:5]] + [None] * 4
        items.append(Perf(label, float(value.group(1)), value.group(2) or "",
                          extra[0], extra[1], extra[2], extra[3]))
    return items


def parse_plugin_output(code: int, stdout: bytes) -> PluginOutput:
    """Status, summary, perfdata and long text of a plugin run, per the plugin guidelines."""
    lines = [printable(line, limit=4000) for line in stdout[:MAX_OUTPUT].splitlines()]
    first = lines[0] if lines else ""
    summary, _, perf_text = first.partition("|")
    long_lines: list[str] = []
    in_perf = False
    for line in lines[1:]:
        if in_perf:
            perf_text += " " + line
            continue
        text, bar, more = line.partition("|")
        long_lines.append(text)
        if bar:
            in_perf = True
            perf_text += " " + more
    status = Status(code) if code in (0, 1, 2, 3) else Status.UNKNOWN
    summary = summary.strip() or "(no output)"
    if code not in (0, 1, 2, 3):
        reason = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
        summary = f"{reason}: {summary}"
    return PluginOutput(status, summary, tuple(parse_perfdata(perf_text)),
                        "\n".join(long_lines).strip())


class CommandBackend(Backend[CommandSnapshot]):
    kind = "command"

    def __init__(self, config: CommandConfig) -> None:
        super().__init__(config.name, interval=config.interval, timeout=config.timeout + 2.0)
        self.config = config

    def targets(self) -> list[str]:
        return [f"command:{self.name}"]

    async def collect(self) -> CommandSnapshot:
        started = time.monotonic()
        output = await self._run()
        return CommandSnapshot(output, time.monotonic() - started)

    async def _run(self) -> PluginOutput:
        cfg = self.config
        program = cfg.argv[0]
        try:
            process = await asyncio.create_subprocess_exec(
                *cfg.argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, start_new_session=True)
        except FileNotFoundError:
            return PluginOutput(Status.UNKNOWN, f"program not found: {program} (install it or "
                                "give its full path in 'command')", (), "")
        except PermissionError:
            return PluginOutput(Status.UNKNOWN, f"cannot run {program}: permission denied "
                                "(is it executable? chmod +x)", (), "")
        except OSError as exc:
            return PluginOutput(Status.UNKNOWN, f"cannot run {program}: {exc.strerror}", (), "")
        try:
            async with asyncio.timeout(cfg.timeout):
                stdout, stderr = await process.communicate()
        except TimeoutError:
            await self._kill(process)
            return PluginOutput(Status.UNKNOWN, f"{os.path.basename(program)} did not finish "
                                f"within {cfg.timeout:g}s and was killed", (), "")
        except BaseException:
            await self._kill(process)
            raise
        code = process.returncode if process.returncode is not None else 3
        output = parse_plugin_output(code, stdout)
        if not stdout.strip() and stderr.strip():  # a plugin that failed before printing
            error = printable(stderr.strip().splitlines()[-1], limit=300)
            output = PluginOutput(output.status, f"{output.summary}: {error}",
                                  output.perfdata, output.long_text)
        return output

    @staticmethod
    async def _kill(process: asyncio.subprocess.Process) -> None:
        """Kill the plugin and whatever it started (its own process group)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                await process.wait()

    def evaluate(self, snapshot: CommandSnapshot) -> list[CheckResult]:
        out = snapshot.output
        return [CheckResult(f"command:{self.name}", out.status, out.summary,
                            perfdata=out.perfdata,
                            details="\n".join(filter(None, [" ".join(self.config.argv),
                                                            out.long_text])))]


KIND = BackendKind(section="command", parse=parse, build=build, validate=validate)
