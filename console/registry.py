"""Every backend kind in one table: one row per config section.

A row says which module implements the section, which target kinds it answers for, the view
that shows it (title, screen class, key), how discovery finds it, what `opsconsole init`
suggests adding, and which headless verbs it offers on which targets. Everything else that
lists kinds (target parsing, the views and their keys, the kind-to-view map, discovery, the
order of sections, init's hints, the CLI's help) is derived from this table, so adding a
kind means its package, its screen and one row here.

Modules are named, not imported: a section's code is loaded only when a config uses it.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING

from backends.discovery.model import Probe
from console.core.errors import ConfigError
from console.core.targets import split_target

if TYPE_CHECKING:
    from backends.base import BackendKind


@dataclass(frozen=True)
class ViewSpec:
    """A view of the console: `key` switches to it (None: palette only)."""

    name: str
    title: str
    screen: str  # "module:Class", imported when the view is first shown
    key: str | None
    short: str = ""  # title on narrow terminals
    hint: str = ""  # what to add to the config when nothing is configured for it
    bar: bool = True  # listed on the view bar (views of every config that are not, save room)

    @property
    def short_title(self) -> str:
        return self.short or self.title


@dataclass(frozen=True)
class KindRow:
    """One backend kind: a config section and everything the console derives from it."""

    section: str
    module: str  # exposes `KIND: BackendKind`
    targets: tuple[str, ...]  # the target kinds it answers for (`unit` of `unit:NAME`)
    view: ViewSpec | None = None
    probe: Probe | None = None  # how discovery finds it on this machine
    init_hint: str = ""  # the keys `opsconsole init` mentions beside a discovered entry
    verbs: tuple[tuple[str, str], ...] = ()  # (headless verb, target form) it offers


# Supervisor programs, plain processes and cron jobs share one view, reached by `P` or the palette.
PROCESSES = ViewSpec("processes", "Processes", "screens.processes:ProcessesScreen", "P",
                     short="Procs",
                     hint="add a [[supervisor]], [[process]] or [[cron]] section")

KINDS: tuple[KindRow, ...] = (
    KindRow("systemd", "backends.systemd", ("unit",),
            ViewSpec("units", "Units", "screens.units:UnitsScreen", "2",
                     hint='add a [[systemd]] section with units = ["myapp*.service"]'),
            Probe("systemd", "backends.discovery.systemd", slow=True),
            'units: names or globs such as "myapp*.service"',
            (("restart", "unit:NAME"), ("start", "unit:NAME"), ("stop", "unit:NAME"))),
    KindRow("redis", "backends.redis", ("queue",),
            ViewSpec("queues", "Queues", "screens.queues:QueuesScreen", "3",
                     hint="add a [[redis]] section with [[redis.queues]]"),
            Probe("redis", "backends.discovery.redis"),
            "[[redis.queues]]: queue, processing and failed keys of one family; "
            "warn/crit thresholds on depth",
            (("retry", "queue:REDIS/QUEUE"),)),
    KindRow("celery", "backends.celery", ("celery",),
            ViewSpec("celery", "Celery", "screens.celery:CeleryScreen", "4",
                     hint='add a [[celery]] section with broker = "redis://..."'),
            Probe("celery", "backends.discovery.celery", after="redis"),
            'failed_per_hour = { warn = 10, crit = 50 }; beat_schedule = "/path"',
            (("retry", "celery:APP"), ("call", "celery:APP"))),
    KindRow("docker", "backends.docker", ("container", "volume"),
            ViewSpec("containers", "Containers", "screens.containers:ContainersScreen", "5",
                     short="Docker", hint='add a [[docker]] section with containers = ["name"]'),
            Probe("docker", "backends.discovery.docker", slow=True),
            'backup = { dir = "/opt/backups/NAME", keep = 7 } for volume backups',
            (("restart", "container:NAME"), ("start", "container:NAME"),
             ("stop", "container:NAME"), ("backup", "volume:NAME"), ("restore", "volume:NAME"))),
    KindRow("postgres", "backends.postgres", ("postgres",),
            ViewSpec("database", "Database", "screens.database:DatabaseScreen", "6", short="DB",
                     hint='add a [[postgres]] section with dsn = "postgresql://..."'),
            Probe("postgres", "backends.discovery.postgres"),
            'backup = { dir = "/opt/backups/NAME", keep_days = 30 } for verified backups',
            (("backup", "postgres:NAME"), ("restore", "postgres:NAME"),
             ("restore-test", "postgres:NAME"))),
    KindRow("http", "backends.http", ("http",),
            ViewSpec("endpoints", "Endpoints", "screens.endpoints:EndpointsScreen", "7",
                     short="HTTP",
                     hint='add an [[http]] section with name and url = "https://.../health/"'),
            Probe("ports", "backends.discovery.ports"),
            "expect_status, expect_body, latency_warn"),
    KindRow("host", "backends.host", ("host",),
            init_hint='disks = ["/", "/var/lib/postgresql"]; disk_warn/disk_crit in percent'),
    KindRow("deploy", "backends.deploy", ("deploy",),
            ViewSpec("deploy", "Deploy", "screens.deploy:DeployScreen", "9",
                     hint="add a [[deploy]] section with repo, units and health"),
            verbs=(("restore", "deploy:NAME"), ("rollback", "deploy:NAME"),
                   ("roll-forward", "deploy:NAME"), ("deploy", "deploy:NAME"))),
    KindRow("backup", "backends.dirbackup", ("dir",),
            init_hint='paths = ["/opt/app/media"], dir = "/opt/backups/media", keep = 7',
            verbs=(("backup", "dir:NAME"), ("restore", "dir:NAME"))),
    KindRow("supervisor", "backends.supervisor.backend", ("program",), PROCESSES,
            Probe("supervisor", "backends.discovery.supervisor"),
            "programs = [\"crawl*\"]; username with password_file for a socket with a login",
            (("restart", "program:NAME"), ("start", "program:NAME"), ("stop", "program:NAME"))),
    KindRow("process", "backends.process", ("process",), PROCESSES,
            init_hint='pattern = "manage.py run_crawl_scheduler"; min/max; '
                      'start = ["/path/python", "manage.py", "..."]',
            verbs=(("start", "process:NAME"),)),
    KindRow("cron", "backends.cron.backend", ("cron",), PROCESSES,
            # reading crontabs is local and cheap: it waits so as not to slow the network probes
            Probe("cron", "backends.discovery.cron", after="ports"),
            'grace = "5m" for missed runs; journal_dir; [[cron.jobs]] name and match',
            (("run", "cron:NAME"),)),
    KindRow("logs", "backends.logs", ("log",)),
    KindRow("sql", "backends.sql", ("sql",)),
    KindRow("file", "backends.filecheck", ("file",)),
    KindRow("command", "backends.command", ("command",)),
)

# Views that belong to no one kind. The Logs view shows every backend's log sources.
OVERVIEW = ViewSpec("overview", "Overview", "screens.overview:OverviewScreen", "1", short="All")
SERVICES = ViewSpec("services", "Services", "screens.services:ServicesScreen", "i", short="Svc",
                    hint="add a [[service]] section with its members and indicators")
ACTIONS = ViewSpec("actions", "Actions", "screens.actions:ActionsScreen", "8", short="Acts")
LOGS = ViewSpec("logs", "Logs", "screens.logs:LogsScreen", "0",
                hint='add a [[logs]] section with name and path = "/var/log/myapp/*.log", or '
                     "units and containers, whose journals and logs show here")
# Other hosts, through their bridges over ssh (reached by its letter key and the palette).
FLEET = ViewSpec("fleet", "Fleet", "screens.fleet:FleetScreen", None,
                 hint="add [[hosts]] entries (name, ssh) or [[hosts_from]]")
FLEET_KEY = "H"

TIMELINE = ViewSpec("timeline", "Timeline", "screens.timeline:TimelineScreen", "h", short="Time",
                    bar=False)

ROW_BY_SECTION = {row.section: row for row in KINDS}


def views(services: bool = False) -> list[ViewSpec]:
    """Every view in key order (1-9, then 0, then letter keys, then views reached by the
    palette only); with `services` (a config with [[service]] entries) Services comes first."""
    listed = [OVERVIEW, *(row.view for row in KINDS if row.view is not None), ACTIONS, LOGS,
              SERVICES, FLEET, TIMELINE]
    unique = list(dict.fromkeys(listed))  # several kinds may share one view

    def order(view: ViewSpec) -> int:
        if view is SERVICES and services:
            return -1
        return _key_rank(view.key)

    return sorted(unique, key=order)


def _key_rank(key: str | None) -> int:
    """1-9, then 0, then letter keys, then views without a key."""
    if key is None:
        return 99
    digit = "1234567890".find(key)
    return digit if digit >= 0 else 50


def bar_views(services: bool) -> list[ViewSpec]:
    """The views the view bar shows: the number keys' (and Services first when configured);
    letter-keyed views are in the help and the palette."""
    return [v for v in views(services)
            if v.key and v.bar and (v.key.isdigit() or (services and v is SERVICES))]


def view_by_name(name: str) -> ViewSpec | None:
    return next((v for v in views() if v.name == name), None)


def sections_of_view(name: str) -> tuple[str, ...]:
    """The config sections a view shows (none for the views every config has)."""
    return tuple(row.section for row in KINDS if row.view is not None and row.view.name == name)


def view_for_target_kind(kind: str) -> ViewSpec | None:
    """The view that shows a target kind (`volume` -> Containers), or None."""
    row = row_for_target_kind(kind)
    return row.view if row is not None else None


def row_for_target_kind(kind: str) -> KindRow | None:
    return next((row for row in KINDS if kind in row.targets), None)


def target_kinds() -> tuple[str, ...]:
    return tuple(kind for row in KINDS for kind in row.targets)


def parse_target(target: str) -> tuple[str, str]:
    """`queue:crawl/auto_record` -> ("queue", "crawl/auto_record"); a usage error otherwise."""
    kind, name = split_target(target)
    if kind not in target_kinds():
        raise ConfigError(f"{target!r} is not a target: write KIND:NAME with KIND one of "
                          f"{', '.join(target_kinds())}")
    return kind, name


def section_order() -> tuple[str, ...]:
    return tuple(row.section for row in KINDS)


def discovery_probes() -> list[Probe]:
    return [row.probe for row in KINDS if row.probe is not None]


def init_hint(section: str) -> str:
    row = ROW_BY_SECTION.get(section)
    return row.init_hint if row else ""


def verbs() -> dict[str, list[str]]:
    """Headless verb -> the target forms it takes, in row order (`restart` -> unit, container)."""
    found: dict[str, list[str]] = {}
    for row in KINDS:
        for verb, form in row.verbs:
            found.setdefault(verb, []).append(form)
    return found


def available_sections() -> list[str]:
    """Sections whose module is present in this installation."""
    return [row.section for row in KINDS if importlib.util.find_spec(row.module) is not None]


def load_kind(section: str) -> BackendKind:
    """Import the module for a section and return its BackendKind."""
    module = importlib.import_module(ROW_BY_SECTION[section].module)
    kind: BackendKind = module.KIND
    return kind
