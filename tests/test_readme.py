"""The README's config examples are real: they load without a single error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from console import registry
from console.config import parse_config

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_config_examples_load(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("UJMP_DB_PASSWORD", "example-password")
    monkeypatch.setenv("API_TOKEN", "example-token")
    monkeypatch.setenv("SMTP_PASSWORD", "example-smtp-password")
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 2
    config = parse_config("\n".join(blocks), tmp_path / "config.toml")
    assert set(registry.section_order()) <= set(config.sections)
