"""Every registered backend kind keeps the contract its one registry row promises.

Adding a kind means its package, its screen and one row in console/registry.py; this test
runs over every row, so a new kind is checked without being named here.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console import registry
from console.assembly import build_backends
from console.config import parse_config

README = Path(__file__).resolve().parent.parent / "README.md"
ROWS = {row.section: row for row in registry.KINDS}


def test_each_kind_imports_without_textual_or_the_other_kinds() -> None:
    for row in registry.KINDS:
        code = (f"import sys, importlib; kind = importlib.import_module({row.module!r}).KIND; "
                f"assert kind.section == {row.section!r}, kind.section; "
                "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "[]", f"{row.module} imports Textual"


def test_declared_target_kinds_parse_and_are_unique() -> None:
    kinds = registry.target_kinds()
    assert len(kinds) == len(set(kinds)), "two rows claim one target kind"
    for kind in kinds:
        assert registry.parse_target(f"{kind}:name") == (kind, "name")
    with pytest.raises(Exception, match="KIND one of"):
        registry.parse_target("nosuchkind:name")


def test_views_have_screens_and_unique_names_and_keys() -> None:
    views = registry.views()
    names = [v.name for v in views]
    keys = [v.key for v in views if v.key]
    assert len(names) == len(set(names)) and len(keys) == len(set(keys))
    for view in views:
        module_name, _, class_name = view.screen.partition(":")
        screen = getattr(importlib.import_module(module_name), class_name)
        assert getattr(screen, "VIEW", view.name) == view.name, view.screen


def test_verbs_are_unique_per_kind_and_name_their_own_targets() -> None:
    for row in registry.KINDS:
        assert len(row.verbs) == len(set(row.verbs)), row.section
        for _verb, form in row.verbs:
            assert form.split(":", 1)[0] in row.targets, (row.section, form)


def test_discovery_probes_exist_and_wait_only_for_earlier_probes() -> None:
    seen: set[str] = set()
    for probe in registry.discovery_probes():
        module = importlib.import_module(probe.module)
        assert callable(module.probe) and isinstance(module.where(), str)
        assert probe.after is None or probe.after in seen, probe.name
        seen.add(probe.name)


@pytest.fixture
def readme_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("UJMP_DB_PASSWORD", "example-password")
    monkeypatch.setenv("API_TOKEN", "example-token")
    monkeypatch.setenv("SMTP_PASSWORD", "example-smtp-password")
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(), flags=re.S)
    return parse_config("\n".join(blocks), tmp_path / "config.toml")


def test_the_readme_shows_every_kind_and_failure_checks_cover_the_targets(readme_config) -> None:  # type: ignore[no-untyped-def]
    assert set(readme_config.sections) == set(ROWS), "the README lacks an example of a kind"
    backends = build_backends(readme_config)
    assert {b.kind for b in backends} >= {"http", "host"}
    for backend in backends:
        module = type(backend).__module__
        row = next(r for r in registry.KINDS if module == r.module or module.startswith(r.module + "."))
        targets = backend.targets()
        for target in targets:
            assert target.split(":", 1)[0] in row.targets, (row.section, target)
        covered = {c.target for c in backend.failure_checks("down", time.time())}
        assert set(targets) <= covered, (backend.id, set(targets) - covered)
        assert all(c.status.name != "OK" for c in backend.failure_checks("down", time.time()))
