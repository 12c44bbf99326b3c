"""Fleet config: [[hosts]], [[hosts_from]] (Ansible INI/YAML, ssh_config) and their errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from console.config import load_config
from console.core.errors import ConfigError


def test_hosts_and_their_defaults(write_config: Callable[[str], Path]) -> None:
    config = load_config(str(write_config(
        '[[hosts]]\nname = "web1"\n'
        '[[hosts]]\nname = "db1"\nssh = "deploy@10.0.0.5"\nconfig = "/etc/oc.toml"\n'
        'remote_command = "/opt/opsconsole/bin/opsconsole"\ngroup = "prod"\n'
        'read_only = true\nconfirm = "type-name"\n')))
    assert config.fleet is not None
    web1, db1 = config.fleet.hosts
    assert (web1.ssh, web1.remote_command, web1.group, web1.read_only) == (
        "web1", "opsconsole", "", False)
    assert (db1.ssh, db1.config, db1.group, db1.protected) == (
        "deploy@10.0.0.5", "/etc/oc.toml", "prod", True)
    assert [h.name for h in config.fleet.select("prod")] == ["db1"]
    assert [h.name for h in config.fleet.select("db1,web1")] == ["db1", "web1"]


@pytest.mark.parametrize(("text", "message"), [
    ('[[hosts]]\nssh = "web1"\n', "[[hosts]] #1 'name': is required"),
    ('[[hosts]]\nname = "web1"\nssh = "-oProxyCommand=x"\n', "'ssh': expected an ssh destination"),
    ('[[hosts]]\nname = "a"\nconfirm = "maybe"\n', "'confirm': expected one of 'yes-no', 'type-name'"),
    ('[[hosts]]\nname = "a"\n[[hosts]]\nname = "a"\n', "host 'a' is listed twice"),
    ('[[hosts]]\nname = "a"\nport = 22\n', "'port': unknown key"),
    ('[fleet]\nssh_config = "/nonexistent/ssh_config"\n', "[fleet] 'ssh_config': no such file"),
    ('[[hosts_from]]\ngroup = "x"\n', "give either ansible"),
    ('[[hosts_from]]\nansible = "/nonexistent/inventory"\n', "cannot read /nonexistent/inventory"),
])
def test_bad_fleet_config_is_one_line(write_config: Callable[[str], Path], text: str,
                                      message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(str(write_config(text)))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_hosts_from_ansible_ini_and_yaml(tmp_path: Path,
                                         write_config: Callable[[str], Path]) -> None:
    ini = tmp_path / "hosts.ini"
    ini.write_text("# fleet\nbastion\n[web]\nweb1 ansible_host=10.0.0.1 ansible_user=deploy\n"
                   "web2\n[db]\ndb1 ansible_host=10.0.0.9\n[db:vars]\nx=1\n")
    yml = tmp_path / "hosts.yml"
    yml.write_text("all:\n  children:\n    workers:\n      hosts:\n        worker1:\n"
                   "          ansible_host: 10.0.1.1\n        worker2: {}\n")
    config = load_config(str(write_config(
        f'[[hosts_from]]\nansible = "{ini}"\nremote_command = "/opt/oc/bin/opsconsole"\n'
        f'[[hosts_from]]\nansible = "{yml}"\nread_only = true\n')))
    assert config.fleet is not None
    found = {h.name: (h.ssh, h.group, h.remote_command, h.read_only) for h in config.fleet.hosts}
    assert found == {
        "bastion": ("bastion", "", "/opt/oc/bin/opsconsole", False),
        "web1": ("deploy@10.0.0.1", "web", "/opt/oc/bin/opsconsole", False),
        "web2": ("web2", "web", "/opt/oc/bin/opsconsole", False),
        "db1": ("10.0.0.9", "db", "/opt/oc/bin/opsconsole", False),
        "worker1": ("10.0.1.1", "workers", "opsconsole", True),
        "worker2": ("worker2", "workers", "opsconsole", True),
    }


def test_hosts_from_ssh_config_pattern(tmp_path: Path,
                                       write_config: Callable[[str], Path]) -> None:
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text("Host *\n  ServerAliveInterval 30\nHost prod-web1 prod-web2\n"
                          "  User deploy\nHost staging-web1\nHost prod-* !prod-old\n")
    config = load_config(str(write_config(
        f'[[hosts_from]]\nssh_config = "prod-*"\nssh_config_file = "{ssh_config}"\n'
        'group = "prod"\nconfirm = "type-name"\n')))
    assert config.fleet is not None
    assert [(h.name, h.ssh, h.group, h.protected) for h in config.fleet.hosts] == [
        ("prod-web1", "prod-web1", "prod", True), ("prod-web2", "prod-web2", "prod", True)]
