"""Turning a loaded config into backend instances (importing only the sections it uses)."""

from __future__ import annotations

from backends.base import Backend, Runtime
from console import registry
from console.broken import BrokenBackend
from console.config import Config
from console.core.targets import matches


def runtime_for(config: Config) -> Runtime:
    return Runtime(redactor=config.redactor, state_dir=config.console.state_dir,
                   refresh=config.console.refresh, timeout=config.console.timeout,
                   sections=config.sections, config_path=config.path)


def build_backends(config: Config, only: list[str] | None = None) -> list[Backend]:
    """Every configured backend, or those answering for a target that `only` selects."""
    runtime = runtime_for(config)
    backends: list[Backend] = []
    for section, entries in config.sections.items():
        backends.extend(registry.load_kind(section).build(entries, runtime))
    backends.extend(BrokenBackend(entry) for entry in config.broken)
    if only:
        backends = [b for b in backends
                    if any(matches(t, only) for t in b.targets())
                    or any(b.answers_for(pattern) for pattern in only)]
    return backends
