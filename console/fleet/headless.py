"""Headless fleet commands: `check --hosts ...` fanned out at once, actions with `--host NAME`.

A host that cannot be reached, or does not answer within its deadline, is UNKNOWN with the
reason (ssh's own words), never OK; the others report regardless.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from console import report
from console.config import Config
from console.core.counts import counted
from console.core.errors import ConfigError, ConsoleError
from console.core.identity import current_identity
from console.core.model import CheckResult, Status
from console.core.targets import matches
from console.fleet.client import BridgeClient, BridgeError
from console.fleet.operator import operator_name
from console.fleet.protocol import check_from_dict
from console.fleet_config import Fleet, HostEntry

EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 3


@dataclass
class HostReport:
    host: HostEntry
    checks: list[CheckResult] = field(default_factory=list)
    reason: str | None = None  # why it could not be checked
    version: str = ""
    protocol: int | None = None
    seconds: float = 0.0


def _fleet(config: Config) -> Fleet:
    if config.fleet is None or not config.fleet.hosts:
        raise ConfigError(f"no [[hosts]] in {config.display_path}: add a [[hosts]] entry "
                          "(name, ssh) or a [[hosts_from]] source")
    return config.fleet


def host_deadline(config: Config, timeout: float | None) -> float:
    fleet = _fleet(config)
    if timeout is not None:
        return timeout
    return fleet.settings.deadline or config.console.deadline


async def check_host(config: Config, host: HostEntry, deadline: float,
                     operator: str) -> HostReport:
    """One host's checks through its bridge, within `deadline` all told."""
    fleet = _fleet(config)
    started = time.monotonic()
    found = HostReport(host)
    client = BridgeClient(fleet.settings, host, operator=operator)
    try:
        async with asyncio.timeout(deadline):
            hello = await client.connect(deadline)
            found.version, found.protocol = str(hello.get("version", "")), hello.get("protocol")
            # the bridge gets a little less than the deadline, so its own UNKNOWNs arrive
            reply = await client.request({"type": "check", "deadline": max(0.5, deadline * 0.8)},
                                         deadline)
            found.checks = [check_from_dict(c) for r in reply.get("results", [])
                            for c in r.get("checks", [])]
    except TimeoutError:
        found.reason = f"timed out: no answer within the per-host deadline of {deadline:g}s"
    except ConsoleError as exc:
        found.reason = str(exc).removeprefix(f"{host.name}: ")
    except OSError as exc:
        found.reason = f"cannot start ssh: {exc.strerror or exc}"
    finally:
        try:
            await asyncio.wait_for(client.close(), 10)
        except TimeoutError:
            pass
    found.seconds = time.monotonic() - started
    return found


def _unreachable(found: HostReport) -> CheckResult:
    return CheckResult(f"ssh:{found.host.name}", Status.UNKNOWN,
                       f"unreachable: {found.reason}")


def run_fleet_check(config: Config, *, hosts: str, fmt: str, only: list[str],
                    timeout: float | None) -> int:
    """`check --hosts`: every selected host at once; the exit code is the worst status."""
    selected = _fleet(config).select(hosts)
    deadline = host_deadline(config, timeout)
    operator = operator_name(current_identity())
    started = time.monotonic()

    async def everyone() -> list[HostReport]:
        return list(await asyncio.gather(*(check_host(config, h, deadline, operator)
                                           for h in selected)))

    reports = asyncio.run(everyone())
    per_host: list[tuple[HostReport, list[CheckResult]]] = []
    for found in reports:
        checks = [_unreachable(found)] if found.reason else found.checks
        if only and not found.reason:
            checks = [c for c in checks if matches(c.target, only)]
        per_host.append((found, checks))
    if fmt == "json":
        print(_json(per_host, time.monotonic() - started))
    else:
        print(_text(per_host))
    return int(report.overall([c for _, checks in per_host for c in checks]))


def run_fleet_status(config: Config, *, hosts: str, fmt: str) -> int:
    """`status --hosts`: every target's state on every selected host, prefixed with the host."""
    selected = _fleet(config).select(hosts)
    deadline = host_deadline(config, None)
    operator = operator_name(current_identity())

    async def everyone() -> list[HostReport]:
        return list(await asyncio.gather(*(check_host(config, h, deadline, operator)
                                           for h in selected)))

    reports = asyncio.run(everyone())
    if fmt == "json":
        print(json.dumps({found.host.name: {
            "reachable": found.reason is None, "reason": found.reason,
            "summaries": {c.label: c.summary for c in found.checks}} for found in reports},
            indent=2))
        return EXIT_OK
    for found in reports:
        if found.reason:
            print(f"{found.host.name} ssh:{found.host.name}: unreachable: {found.reason}")
        for check in sorted(found.checks, key=lambda c: c.key):
            print(f"{found.host.name} {check.label}: {check.summary}")
    return EXIT_OK


def _text(per_host: list[tuple[HostReport, list[CheckResult]]]) -> str:
    every = [c for _, checks in per_host for c in checks]
    status = report.overall(every)
    tally = report.counts(every)
    down = sum(1 for found, _ in per_host if found.reason)
    hosts = counted(len(per_host), "host")
    reach = f", {down} unreachable" if down else ""
    perf = " ".join(f"'{found.host.name}_checks'={len(checks)}" for found, checks in per_host)
    lines = [f"OPSCONSOLE {status.name} - {hosts}{reach}: {tally['ok']} ok, "
             f"{tally['warning']} warning, {tally['critical']} critical, "
             f"{tally['unknown']} unknown | {perf}"]
    rows = [(found.host.name, c) for found, checks in per_host for c in checks]
    rows.sort(key=lambda r: (-r[1].status.severity, r[0], r[1].target, r[1].check))
    for name, check in rows:
        lines.append(f"{name} {check.status.name} {check.label} - {check.summary}")
    return "\n".join(lines)


def _json(per_host: list[tuple[HostReport, list[CheckResult]]], duration: float) -> str:
    every = [c for _, checks in per_host for c in checks]
    status = report.overall(every)
    document: dict[str, Any] = {
        "status": status.name, "exit_code": int(status), "counts": report.counts(every),
        "duration": round(duration, 3), "hosts": {}}
    for found, checks in per_host:
        host_status = report.overall(checks)
        document["hosts"][found.host.name] = {
            "status": host_status.name, "reachable": found.reason is None,
            "reason": found.reason, "group": found.host.group, "version": found.version,
            "protocol": found.protocol, "seconds": round(found.seconds, 3),
            "counts": report.counts(checks),
            "checks": [report.check_dict(c) for c in report.sort_worst_first(checks)]}
    return json.dumps(document, indent=2)


def run_remote_action(config: Config, *, host_name: str, verb: str, target: str,
                      options: Mapping[str, Any], assume_yes: bool, read_only: bool) -> int:
    """A headless action run by the bridge on `host_name`; its rules and audit apply."""
    fleet = _fleet(config)
    host = fleet.host(host_name)
    if read_only or host.read_only:
        why = "--read-only" if read_only else f"[[hosts]] {host.name} is read_only"
        print(f"{verb} {target} on {host.name}: refused: {why}", file=sys.stderr)
        return EXIT_REFUSED
    return asyncio.run(_remote_action(config, host, verb, target, options, assume_yes))


async def _remote_action(config: Config, host: HostEntry, verb: str, target: str,
                         options: Mapping[str, Any], assume_yes: bool) -> int:
    assert config.fleet is not None
    deadline = host_deadline(config, None)

    def show(message: dict[str, Any]) -> None:
        if message.get("type") == "progress":
            print(f"  {message.get('line', '')}")

    client = BridgeClient(config.fleet.settings, host,
                          operator=operator_name(current_identity()), on_event=show)
    try:
        await client.connect(deadline)
        offered = await client.request({"type": "actions", "target": target}, deadline)
        spec = next((a for a in offered.get("actions", []) if a.get("verb") == verb), None)
        if spec is None:
            verbs = sorted({str(a.get("verb")) for a in offered.get("actions", [])})
            raise ConfigError(f"{target} on {host.name} has no '{verb}' action"
                              + (f" (it offers: {', '.join(verbs)})" if verbs else ""))
        confirmed: dict[str, Any] = {}
        if not spec.get("refusal"):  # a refusal is the host's to make (and to audit)
            confirmed = await _confirm(host, spec, verb, target, assume_yes)
            if not confirmed:
                return EXIT_REFUSED
        result = await client.request({"type": "action", "target": target, "verb": verb,
                                       "options": dict(options), "confirmed": confirmed},
                                      max(deadline, 3600))
    except BridgeError as exc:
        print(f"{host.name}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        await client.close()
    message = f"{host.name}: {result.get('message', '')}"
    if result.get("state") == "ok":
        print(message)
        return EXIT_OK
    print(message, file=sys.stderr)
    return EXIT_REFUSED if result.get("state") == "refused" else EXIT_FAILED


async def _confirm(host: HostEntry, spec: dict[str, Any], verb: str, target: str,
                   assume_yes: bool) -> dict[str, Any]:
    """Ask the operator here; what they confirmed goes with the request (empty: not)."""
    from console.core.actions import ActionSpec
    from console.headless_actions import terminal_confirmer

    typed = str(spec.get("type_to_confirm") or "")
    if host.protected and not typed:
        typed = host.name  # a protected group: type the host's name

    async def elsewhere(progress: Any) -> Any:
        raise AssertionError("a remote action runs on its host")

    local = ActionSpec(verb, target, f"{spec['title']} on {host.name}", str(spec["effect"]),
                       elsewhere, mutating=bool(spec.get("mutating", True)),
                       type_to_confirm=typed or None)
    if local.mutating and not await terminal_confirmer(assume_yes)(local):
        print(f"{local.title}: not confirmed", file=sys.stderr)
        return {}
    return {"verb": verb, "target": target, "typed": spec.get("type_to_confirm")}
