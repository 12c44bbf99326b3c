"""The command line: `opsconsole` opens the TUI; `opsconsole --headless COMMAND` runs without one.

Exit codes are an interface: check uses 0-3 (OK, WARNING, CRITICAL, UNKNOWN); other commands
0 success, 1 the action failed, 2 usage or config error, 3 refused.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from typing import Any

from console import __version__, registry
from console.core.errors import ConfigError, ConsoleError
from console.output import emit, silence_stdout

SCREENLESS_COMMANDS = ("init", "demo", "bridge")  # commands that work with or without --headless


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="config file (default: $OPSCONSOLE_CONFIG, "
                             "~/.config/opsconsole/config.toml, /etc/opsconsole/config.toml)")
    common.add_argument("--read-only", action="store_true", default=argparse.SUPPRESS,
                        help="refuse every action that changes something")
    parser = argparse.ArgumentParser(
        prog="opsconsole", parents=[common],
        description="Ops console for Python production stacks: systemd units, Supervisor "
                    "programs, processes, cron jobs, Redis queues, Celery, Docker, PostgreSQL, "
                    "HTTP endpoints and the host.",
        epilog="Without --headless, opens the full-screen console. Exit codes: check 0-3 "
               "(OK/WARNING/CRITICAL/UNKNOWN); others 0 ok, 1 failed, 2 usage/config, 3 refused.")
    parser.add_argument("--version", action="version", version=f"opsconsole {__version__}")
    parser.add_argument("--headless", action="store_true",
                        help="run COMMAND without a screen (for cron and scripts)")
    parser.add_argument("--discover", action="store_true",
                        help="watch what discovery finds on this machine, even if a config "
                             "file exists")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = commands.add_parser("check", parents=[common], help="run every check once")
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument("--only", nargs="+", action="extend", default=[], metavar="TARGET",
                       help="only these targets (KIND:NAME, KIND, or a glob)")
    check.add_argument("--timeout", type=float, metavar="SECONDS",
                       help="deadline of the whole run (default: [console] deadline, 30s); "
                            "with --hosts, of each host")
    check.add_argument("--prometheus", metavar="PATH",
                       help="also write the results as a node_exporter textfile "
                            "(default: [console] prometheus)")
    check.add_argument("--hosts", metavar="all|GROUP|NAME[,NAME]",
                       help="check these fleet hosts ([[hosts]]) at once, through ssh")

    status = commands.add_parser("status", parents=[common], help="every target's state")
    status.add_argument("--format", choices=("text", "json"), default="text")
    status.add_argument("--hosts", metavar="all|GROUP|NAME[,NAME]",
                        help="these fleet hosts' states ([[hosts]]), through ssh")

    commands.add_parser("bridge", parents=[common],
                        help="serve this host to a fleet console (started over ssh; JSON lines "
                             "on stdin/stdout)")

    for verb, forms in registry.verbs().items():
        what = " | ".join(forms)
        action = commands.add_parser(verb, parents=[common], help=f"{verb} {what}")
        action.add_argument("target", metavar="TARGET", help=what)
        action.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        action.add_argument("--host", metavar="NAME",
                            help="run it on this fleet host ([[hosts]]), through its bridge")
        if verb == "retry":
            action.add_argument("--task", metavar="ID", help="one Celery task id")
        if verb == "call":
            _call_arguments(action)
        if verb in ("retry", "rollback", "roll-forward", "deploy"):
            action.add_argument("--dry-run", action="store_true", help="say what would happen")
        if verb in ("restore", "restore-test"):
            action.add_argument("--from", dest="source", metavar="FILE",
                                help="the backup to restore (a deploy's default: the newest "
                                     "verified backup taken before the release was deployed)")
        if verb == "restore-test":
            action.add_argument("--drop", action="store_true",
                                help="drop the scratch copy once it is proven (a restore drill "
                                     "from cron)")
        if verb == "rollback":
            action.add_argument("--to", metavar="REV", help="revision to go back to")
        if verb == "deploy":
            _deploy_arguments(action)
        if verb == "restore":
            action.add_argument("--to", metavar="DIR",
                                help="dir: targets only: restore under this directory instead "
                                     "of the original places")
        if verb in ("restore", "restore-test", "rollback"):
            action.add_argument("--force", action="store_true",
                                help="restore a --from file outside the backup dir, or roll "
                                     "back --to a revision this checkout has never had")

    init = commands.add_parser("init", help="write a config file from what runs on this machine")
    init.add_argument("--output", metavar="PATH",
                      help="where to write it (default: ~/.config/opsconsole/config.toml)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")

    demo = commands.add_parser(
        "demo", help="start a throwaway local stack (needs root) and open the console on it",
        description="Starts Redis, a Celery worker, PostgreSQL, a Docker engine, systemd in a "
                    "container and an HTTP endpoint on loopback, opens the console on them, "
                    "and stops everything on exit. With --headless: one check, then stop.")
    demo.add_argument("--down", action="store_true",
                      help="stop and remove whatever an earlier demo left behind")
    demo.add_argument("--yes", action="store_true",
                      help="install missing packages without asking")

    silence = commands.add_parser(
        "silence", parents=[common], help="no notification and no exit code from targets "
                                          "for a while")
    silence.add_argument("pattern", metavar="TARGET_GLOB", help="KIND:NAME or a glob (http:*)")
    silence.add_argument("--for", dest="length", required=True, metavar="DURATION",
                         help="how long (30m, 2h, 1d)")
    silence.add_argument("--reason", required=True, metavar="TEXT", help="why, shown with it")
    unsilence = commands.add_parser("unsilence", parents=[common],
                                    help="end the silences on a target or glob")
    unsilence.add_argument("pattern", metavar="TARGET_GLOB")
    silences = commands.add_parser("silences", parents=[common],
                                   help="the active silences and maintenance windows")
    silences.add_argument("--format", choices=("text", "json"), default="text")
    maintenance = commands.add_parser(
        "maintenance", parents=[common], help="start|end a maintenance window on targets",
        description="start: silence the targets (and with --stop, stop them first); end: start "
                    "what it stopped, lift the silence and show the state after.")
    maintenance.add_argument("phase", choices=("start", "end"))
    maintenance.add_argument("targets", nargs="+", metavar="TARGET")
    maintenance.add_argument("--for", dest="length", metavar="DURATION",
                             help="how long the silence lasts (default 1h)")
    maintenance.add_argument("--stop", action="store_true",
                             help="stop the units or containers first (end starts them)")
    maintenance.add_argument("--reason", default="", metavar="TEXT")
    maintenance.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    timeline = commands.add_parser(
        "timeline", parents=[common], help="what happened, in order: transitions, the systems' "
                                           "own events and actions",
        description="Merges by time the status transitions every run recorded, the systems' "
                    "own events (journal, Docker events, Celery failures) and the audit log. "
                    "--format markdown writes a post-mortem draft.")
    timeline.add_argument("--since", metavar="WHEN",
                          help="start: a duration before now (2h, 30m) or a date and time "
                               "(2026-11-30T03:10); default 2h")
    timeline.add_argument("--until", metavar="WHEN", help="end (default: now), same forms")
    timeline.add_argument("--only", nargs="+", action="extend", default=[], metavar="TARGET",
                          help="only these targets (KIND:NAME, KIND, or a glob)")
    timeline.add_argument("--format", choices=("text", "json", "markdown"), default="text")

    audit = commands.add_parser("audit", parents=[common], help="the audit log and its chain")
    audit.add_argument("--since", metavar="DURATION", help="only records newer than this (2h, 7d)")
    audit.add_argument("--format", choices=("text", "json"), default="text")
    return parser


def _json_of(kind: type) -> Any:
    """An argparse type: JSON text that must decode to a list (args) or an object (kwargs)."""
    def parse(text: str) -> Any:
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not JSON ({exc}): {text!r}") from None
        if not isinstance(value, kind):
            what = "a JSON list such as '[1, \"a\"]'" if kind is list else \
                "a JSON object such as '{\"key\": 1}'"
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value
    return parse


def _call_arguments(action: argparse.ArgumentParser) -> None:
    action.add_argument("task_name", metavar="TASK", help="a task name registered on the workers")
    action.add_argument("--args", type=_json_of(list), metavar="JSON",
                        help="positional arguments, a JSON list")
    action.add_argument("--kwargs", type=_json_of(dict), metavar="JSON",
                        help="keyword arguments, a JSON object")
    action.add_argument("--queue", metavar="Q", help="the queue to send it to")
    action.add_argument("--countdown", type=float, metavar="S", help="run it in S seconds")
    action.add_argument("--wait", type=float, metavar="SECONDS",
                        help="follow the task until it finishes (exit 0 on SUCCESS, 1 on "
                             "FAILURE or when it has not finished in time)")


def _deploy_arguments(action: argparse.ArgumentParser) -> None:
    action.add_argument("--to", metavar="REV", required=True,
                        help="the release: a tag, commit or branch (fetched from the remotes)")
    action.add_argument("--auto-rollback", action="store_true",
                        help="roll back to the previous release by itself when a step after "
                             "the checkout fails or the watch sees a regression")
    action.add_argument("--watch", type=_duration, metavar="DURATION",
                        help="watch this long after the deploy instead of the config's "
                             "'watch' (0: no watch)")


def _duration(text: str) -> float:
    from console.core.durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name in ("task", "dry_run", "source", "to", "task_name", "args", "kwargs", "queue",
                 "countdown", "wait", "auto_rollback", "force", "drop"):
        value = getattr(args, name, None)
        if value:
            options["from" if name == "source" else name] = value
    if getattr(args, "command", None) == "deploy" and args.watch is not None:
        options["watch"] = args.watch  # 0 is a choice here: no watch
    return options


def main(argv: list[str] | None = None) -> int:
    """The `opsconsole` command. Run as the program (no `argv`), it ends the process itself
    once the command is done, as `_exit_now` says; called with `argv`, it returns the code."""
    code = _run(argv)
    if argv is None:
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """End the process without the interpreter's teardown.

    Everything the command writes is written and synced before it returns; what is left is
    freeing some 800 modules and joining the threads of closes still under way in the
    background (a server that is slow to say goodbye). That took 0.3 s of a 1.9 s `check`,
    and held the shell prompt after the console had already given the terminal back.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing to keep
            stream.flush()
    os._exit(code)


def _run(argv: list[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command and not args.headless and args.command not in SCREENLESS_COMMANDS:
        parser.error(f"'{args.command}' runs without a screen: use opsconsole --headless "
                     f"{args.command} ...")
    if args.headless and not args.command:
        parser.error("--headless needs a COMMAND: check, status, "
                     f"{', '.join(registry.verbs())}, silence, unsilence, silences, "
                     "maintenance, timeline or audit")
    if args.command == "restore" and args.to and not args.target.startswith("dir:"):
        parser.error("restore --to DIR is for dir:NAME targets only")
    try:
        return _dispatch(args)
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to say
        silence_stdout()
        return 141
    except ConsoleError as exc:
        print(f"opsconsole: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    from console.config import load_config

    if args.command == "init":
        from console.init import run_init

        return run_init(output=args.output, force=args.force)
    if args.command == "demo":
        from console.demo import run_demo

        return run_demo(down=args.down, headless=args.headless, assume_yes=args.yes,
                        read_only=getattr(args, "read_only", False))
    preload = None
    if not args.headless and args.command != "bridge":
        # Discovery mostly waits on sockets: import the TUI meanwhile.
        import threading

        from console.tui import preload as import_tui

        preload = threading.Thread(target=import_tui, daemon=True)
        preload.start()
    try:
        config = load_config(getattr(args, "config", None), discover_if_missing=True,
                             force_discovery=args.discover, tolerant=True)
    except ConsoleError as exc:
        if args.command != "check":
            raise
        # monitoring-plugins: UNKNOWN (3) when the check itself cannot run, on stdout
        emit(f"OPSCONSOLE UNKNOWN - {exc}")
        return 3
    if preload is not None:
        preload.join()
    for warning in config.warnings:
        print(f"opsconsole: warning: {warning}", file=sys.stderr)
    if config.discovery is not None and args.headless:
        why = "--discover" if args.discover else "no config file"
        print(f"opsconsole: {why}: watching what discovery found "
              f"({len(config.discovery.found)} found, {len(config.discovery.missing)} not "
              f"found); `opsconsole init` writes it down", file=sys.stderr)
    read_only = getattr(args, "read_only", False) or config.console.read_only
    if args.command == "bridge":
        from console.bridge import run_bridge

        return run_bridge(config, read_only=read_only)
    if not args.headless:
        from console.tui import run_tui

        return run_tui(config, read_only=read_only)

    from console import headless

    if args.command == "check" and args.hosts:
        from console.fleet.headless import run_fleet_check

        return run_fleet_check(config, hosts=args.hosts, fmt=args.format, only=args.only,
                               timeout=args.timeout)
    if args.command == "check":
        return headless.run_check(config, fmt=args.format, only=args.only, timeout=args.timeout,
                                  prometheus=args.prometheus)
    if args.command == "status" and args.hosts:
        from console.fleet.headless import run_fleet_status

        return run_fleet_status(config, hosts=args.hosts, fmt=args.format)
    if args.command == "status":
        return headless.run_status(config, fmt=args.format)
    if args.command == "timeline":
        from console.headless_timeline import run_timeline

        return run_timeline(config, since=args.since, until=args.until, only=args.only,
                            fmt=args.format)
    from console import headless_actions

    if args.command == "audit":
        return headless_actions.run_audit(config, fmt=args.format, since=args.since)
    if getattr(args, "host", None):
        from console.fleet.headless import run_remote_action

        return run_remote_action(config, host_name=args.host, verb=args.command,
                                 target=args.target, options=_options(args),
                                 assume_yes=args.yes, read_only=read_only)
    if args.command in ("silence", "unsilence", "silences", "maintenance"):
        from console import headless_alerts as alerts

        if args.command == "silence":
            return alerts.run_silence(config, pattern=args.pattern, length=args.length,
                                      reason=args.reason, read_only=read_only)
        if args.command == "unsilence":
            return alerts.run_unsilence(config, pattern=args.pattern, read_only=read_only)
        if args.command == "silences":
            return alerts.run_silences(config, fmt=args.format)
        return alerts.run_maintenance(config, phase=args.phase, targets=args.targets,
                                      length=args.length, stop=args.stop, reason=args.reason,
                                      assume_yes=args.yes, read_only=read_only)
    return headless_actions.run_action(config, verb=args.command, target=args.target,
                               options=_options(args), assume_yes=args.yes, read_only=read_only)


if __name__ == "__main__":
    sys.exit(main())
