"""The fleet's config: `[fleet]`, `[[hosts]]` and `[[hosts_from]]` (Ansible inventory or ssh_config).

Parsed with the rest of config.toml; every error is one line naming the file, entry and key.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from console.core.configtable import NAME_PATTERN, Table
from console.core.errors import ConfigError

CONFIRM_CHOICES = ("yes-no", "type-name")
_SSH_DEST = re.compile(r"^[A-Za-z0-9_.@:\[\]-]+$")


@dataclass(frozen=True)
class HostEntry:
    """One fleet host: how to reach it and how to start the bridge there."""

    name: str
    ssh: str
    config: str | None = None
    remote_command: str = "opsconsole"
    group: str = ""
    read_only: bool = False
    confirm: str = "yes-no"

    @property
    def protected(self) -> bool:
        return self.confirm == "type-name"


@dataclass(frozen=True)
class FleetSettings:
    """The `[fleet]` table: how ssh is run."""

    ssh_config: str | None = None  # passed as -F only when set
    control_dir: str | None = None
    control_persist: float = 60.0
    connect_timeout: float = 5.0
    deadline: float | None = None  # per host; default [console] deadline


@dataclass
class Fleet:
    settings: FleetSettings = field(default_factory=FleetSettings)
    hosts: list[HostEntry] = field(default_factory=list)

    def select(self, spec: str) -> list[HostEntry]:
        """`all`, a group, or NAME[,NAME]: the hosts meant; a usage error naming the choices."""
        if spec == "all":
            return list(self.hosts)
        grouped = [h for h in self.hosts if h.group == spec]
        if grouped:
            return grouped
        by_name = {h.name: h for h in self.hosts}
        wanted = [n.strip() for n in spec.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in by_name]
        if unknown or not wanted:
            groups = sorted({h.group for h in self.hosts if h.group})
            raise ConfigError(
                f"--hosts {spec}: no host or group named {', '.join(unknown) or spec} "
                f"(hosts: {', '.join(by_name) or 'none'}; groups: {', '.join(groups) or 'none'})")
        return [by_name[n] for n in wanted]

    def host(self, name: str) -> HostEntry:
        for host in self.hosts:
            if host.name == name:
                return host
        raise ConfigError(f"--host {name}: no such host in [[hosts]] "
                          f"(hosts: {', '.join(h.name for h in self.hosts) or 'none'})")


def parse_fleet(root: Table) -> Fleet | None:
    """The fleet from the top-level table, or None when no hosts are configured."""
    settings_table = root.table("fleet")
    host_tables = root.tables("hosts")
    source_tables = root.tables("hosts_from")
    if settings_table is None and not host_tables and not source_tables:
        return None
    settings = _parse_settings(settings_table)
    fleet = Fleet(settings)
    for table in host_tables:
        fleet.hosts.append(_parse_host(table, name_required=True))
    for table in source_tables:
        fleet.hosts.extend(_parse_source(table))
    seen: set[str] = set()
    for host in fleet.hosts:
        if host.name in seen:
            raise root.error("hosts", f"host {host.name!r} is listed twice: names must be unique")
        seen.add(host.name)
    return fleet


def _parse_settings(table: Table | None) -> FleetSettings:
    if table is None:
        return FleetSettings()
    table.where = "[fleet]"
    settings = FleetSettings(
        ssh_config=table.text("ssh_config", None),
        control_dir=table.text("control_dir", None),
        control_persist=table.duration("control_persist", 60.0),
        connect_timeout=table.duration("connect_timeout", 5.0),
        deadline=table.duration("deadline", None),
    )
    table.check(settings.connect_timeout > 0, "connect_timeout", "must be more than 0s")
    if settings.ssh_config is not None:
        table.check(Path(settings.ssh_config).expanduser().is_file(), "ssh_config",
                    "no such file (an ssh client config, passed as ssh -F)")
    table.done()
    return settings


def _host_fields(table: Table) -> dict[str, object]:
    """The per-host keys [[hosts]] and [[hosts_from]] share."""
    remote = table.text("remote_command", "opsconsole")
    table.check(bool(remote.strip()), "remote_command", "must not be empty")
    return {
        "config": table.text("config", None),
        "remote_command": remote,
        "group": table.name("group", ""),
        "read_only": table.flag("read_only", False),
        "confirm": table.text("confirm", "yes-no", choices=CONFIRM_CHOICES),
    }


def _parse_host(table: Table, *, name_required: bool) -> HostEntry:
    name = table.name("name")
    ssh = table.text("ssh", name)
    table.check(bool(_SSH_DEST.match(ssh)) and not ssh.startswith("-"), "ssh",
                "expected an ssh destination such as web1, deploy@10.0.0.5 or a Host alias")
    fields = _host_fields(table)
    table.done()
    return HostEntry(name=name, ssh=ssh, **fields)  # type: ignore[arg-type]


def _parse_source(table: Table) -> list[HostEntry]:
    ansible = table.text("ansible", None)
    pattern = table.text("ssh_config", None)
    ssh_file = table.text("ssh_config_file", "~/.ssh/config")
    if (ansible is None) == (pattern is None):
        raise table.error(None, "give either ansible = \"INVENTORY\" or "
                                "ssh_config = \"PATTERN\" (one source per [[hosts_from]])")
    fields = _host_fields(table)
    table.done()
    template = HostEntry(name="-", ssh="-", **fields)  # type: ignore[arg-type]
    if ansible is not None:
        path = Path(ansible).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise table.error("ansible", f"cannot read {path}: {exc.strerror}") from None
        pairs = (_ansible_yaml(text, table) if path.suffix in (".yml", ".yaml")
                 else _ansible_ini(text))
        return [replace(template, name=n, ssh=dest, group=template.group or g)
                for n, dest, g in pairs]
    path = Path(ssh_file).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise table.error("ssh_config_file", f"cannot read {path}: {exc.strerror}") from None
    names = [n for n in _ssh_config_hosts(text) if fnmatch.fnmatchcase(n, pattern or "*")]
    return [replace(template, name=n, ssh=n) for n in names]


def _valid_name(name: str) -> bool:
    return bool(NAME_PATTERN.match(name))


def _ansible_ini(text: str) -> list[tuple[str, str, str]]:
    """(name, ssh destination, group) of each host line; `:vars`/`:children` skipped."""
    found: dict[str, tuple[str, str, str]] = {}
    group = ""
    skip = False
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            skip = ":" in section
            group = "" if section in ("all", "ungrouped") else section
            continue
        if skip:
            continue
        name, *variables = line.split()
        settings = dict(v.split("=", 1) for v in variables if "=" in v)
        dest = settings.get("ansible_host", name)
        if "ansible_user" in settings:
            dest = f"{settings['ansible_user']}@{dest}"
        if _valid_name(name) and name not in found:
            found[name] = (name, dest, group)
    return list(found.values())


def _ansible_yaml(text: str, table: Table) -> list[tuple[str, str, str]]:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise table.error("ansible", f"not valid YAML: {str(exc).splitlines()[0]}") from None
    found: dict[str, tuple[str, str, str]] = {}

    def walk(group: str, node: object) -> None:
        if not isinstance(node, dict):
            return
        hosts = node.get("hosts")
        if isinstance(hosts, dict):
            for name, settings in hosts.items():
                settings = settings if isinstance(settings, dict) else {}
                dest = str(settings.get("ansible_host", name))
                if "ansible_user" in settings:
                    dest = f"{settings['ansible_user']}@{dest}"
                if _valid_name(str(name)) and str(name) not in found:
                    found[str(name)] = (str(name), dest, "" if group == "all" else group)
        children = node.get("children")
        if isinstance(children, dict):
            for child, sub in children.items():
                walk(str(child), sub)

    if isinstance(data, dict):
        for group, node in data.items():
            walk(str(group), node)
    return list(found.values())


def _ssh_config_hosts(text: str) -> list[str]:
    """Host aliases without wildcards or negation, in file order."""
    names: list[str] = []
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if len(words) >= 2 and words[0].lower() == "host":
            for word in words[1:]:
                if not any(c in word for c in "*?!") and word not in names and _valid_name(word):
                    names.append(word)
    return names
