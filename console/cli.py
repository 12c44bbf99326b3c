"""The command line: `opsconsole` opens the TUI; `opsconsole --headless COMMAND` runs without one.

Exit codes are an interface: check uses 0-3 (OK, WARNING, CRITICAL, UNKNOWN); other commands
0 success, 1 the action failed, 2 usage or config error, 3 refused.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from console import __version__, registry
from console.core.errors import ConfigError, ConsoleError

SCREENLESS_COMMANDS = ("init", "demo")  # commands that work with or without --headless


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="config file (default: $OPSCONSOLE_CONFIG, "
                             "~/.config/opsconsole/config.toml, /etc/opsconsole/config.toml)")
    common.add_argument("--read-only", action="store_true", default=argparse.SUPPRESS,
                        help="refuse every action that changes something")
    parser = argparse.ArgumentParser(
        prog="opsconsole", parents=[common],
        description="Ops console for Python production stacks: systemd units, Redis queues, "
                    "Celery, Docker, PostgreSQL, HTTP endpoints and the host.",
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
                       help="deadline of the whole run (default: [console] deadline, 30s)")

    status = commands.add_parser("status", parents=[common], help="every target's state")
    status.add_argument("--format", choices=("text", "json"), default="text")

    for verb, forms in registry.verbs().items():
        what = " | ".join(forms)
        action = commands.add_parser(verb, parents=[common], help=f"{verb} {what}")
        action.add_argument("target", metavar="TARGET", help=what)
        action.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        if verb == "retry":
            action.add_argument("--task", metavar="ID", help="one Celery task id")
        if verb in ("retry", "rollback"):
            action.add_argument("--dry-run", action="store_true", help="say what would happen")
        if verb == "restore":
            action.add_argument("--from", dest="source", metavar="FILE",
                                help="the backup to restore (a deploy's default: the newest "
                                     "verified backup taken before the release was deployed)")
        if verb == "rollback":
            action.add_argument("--to", metavar="REV", help="revision to go back to")
        if verb in ("restore", "rollback"):
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

    audit = commands.add_parser("audit", parents=[common], help="the audit log and its chain")
    audit.add_argument("--since", metavar="DURATION", help="only records newer than this (2h, 7d)")
    audit.add_argument("--format", choices=("text", "json"), default="text")
    return parser


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name in ("task", "dry_run", "source", "to", "force"):
        value = getattr(args, name, None)
        if value:
            options["from" if name == "source" else name] = value
    return options


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command and not args.headless and args.command not in SCREENLESS_COMMANDS:
        parser.error(f"'{args.command}' runs without a screen: use opsconsole --headless "
                     f"{args.command} ...")
    if args.headless and not args.command:
        parser.error("--headless needs a COMMAND: check, status, "
                     f"{', '.join(registry.verbs())} or audit")
    try:
        return _dispatch(args)
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
    if not args.headless:
        # Discovery mostly waits on sockets: import the TUI meanwhile.
        import threading

        from console.tui import preload as import_tui

        preload = threading.Thread(target=import_tui, daemon=True)
        preload.start()
    config = load_config(getattr(args, "config", None), discover_if_missing=True,
                         force_discovery=args.discover)
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
    if not args.headless:
        from console.tui import run_tui

        return run_tui(config, read_only=read_only)

    from console import headless

    if args.command == "check":
        return headless.run_check(config, fmt=args.format, only=args.only, timeout=args.timeout)
    if args.command == "status":
        return headless.run_status(config, fmt=args.format)
    from console import headless_actions

    if args.command == "audit":
        return headless_actions.run_audit(config, fmt=args.format, since=args.since)
    return headless_actions.run_action(config, verb=args.command, target=args.target,
                               options=_options(args), assume_yes=args.yes, read_only=read_only)


if __name__ == "__main__":
    sys.exit(main())
