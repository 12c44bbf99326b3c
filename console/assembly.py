"""Turning a loaded config into backend instances (importing only the sections it uses).

With `only` (the command line's targets), a section none of whose target kinds a pattern
can name is not built at all, so its client library is never imported: `check --only
host:web1` costs what the host check costs.
"""

from __future__ import annotations

import fnmatch

from backends.base import Backend, Runtime
from console import registry
from console.broken import BrokenBackend
from console.config import Config
from console.core.targets import matches


def runtime_for(config: Config) -> Runtime:
    return Runtime(redactor=config.redactor, state_dir=config.console.state_dir,
                   refresh=config.console.refresh, timeout=config.console.timeout,
                   sections=config.sections, config_path=config.path)


def may_name(pattern: str, kinds: tuple[str, ...]) -> bool:
    """Whether an `--only` pattern could select a target of one of these kinds."""
    head = pattern.split(":", 1)[0]
    return any(fnmatch.fnmatchcase(kind, head) or pattern.rstrip(":") == kind
               or fnmatch.fnmatchcase(f"{kind}:", pattern) for kind in kinds)


def build_backends(config: Config, only: list[str] | None = None) -> list[Backend]:
    """Every configured backend, or those answering for a target that `only` selects."""
    runtime = runtime_for(config)
    backends: list[Backend] = []
    for section, entries in config.sections.items():
        if only and not any(may_name(pattern, registry.ROW_BY_SECTION[section].targets)
                            for pattern in only):
            continue
        backends.extend(registry.load_kind(section).build(entries, runtime))
    backends.extend(BrokenBackend(entry) for entry in config.broken)
    if only:
        backends = [b for b in backends
                    if any(matches(t, only) for t in b.targets())
                    or any(b.answers_for(pattern) for pattern in only)]
    return backends
