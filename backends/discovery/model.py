"""Plain data of a discovery run: what each probe found, or why it found nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Probe:
    """How discovery runs one probe module (`where()` and `async probe(timeout, earlier)`).

    `slow` probes (a child process, a big SDK import) start first and get a longer timeout;
    a probe `after` another waits for it and receives its results as `earlier`.
    """

    name: str
    module: str
    slow: bool = False
    after: str | None = None


@dataclass(frozen=True)
class Finding:
    """One config entry worth writing: `[[section]]` with `table`, and a note for humans.

    `table` holds config values exactly as they would be written to config.toml (secrets as
    `${ENV}` placeholders), so the in-memory config and the written file parse the same way.
    """

    section: str
    table: dict[str, Any]
    note: str


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one probe: found things, or one line saying why not."""

    probe: str
    where: str
    findings: tuple[Finding, ...] = ()
    summary: str = ""
    missing: str | None = None  # why nothing was found; None when something was
    elapsed: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # handed to dependent probes

    @property
    def found(self) -> bool:
        return self.missing is None


@dataclass(frozen=True)
class DiscoveryReport:
    """Every probe's result, in the order the Discovery panel lists them."""

    results: tuple[ProbeResult, ...]
    elapsed: float

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.results for f in r.findings]

    @property
    def found(self) -> list[ProbeResult]:
        return [r for r in self.results if r.found]

    @property
    def missing(self) -> list[ProbeResult]:
        return [r for r in self.results if not r.found]

    def lines(self) -> list[str]:
        """One line per probe, for the terminal and the notice."""
        out = []
        for result in self.results:
            if result.found:
                out.append(f"found      {result.probe:<9} {result.where}: {result.summary}")
            else:
                out.append(f"not found  {result.probe:<9} {result.where}: {result.missing}")
        return out


def safe_name(raw: str, taken: set[str] | None = None) -> str:
    """A config name (letters, digits, _ . @ -) made from a key prefix or database name."""
    name = re.sub(r"[^A-Za-z0-9_.@-]+", "_", raw.replace(":", ".")).strip("._-@") or "x"
    if not name[0].isalnum():
        name = "x" + name
    name = name[:60]
    if taken is not None:
        base, n = name, 2
        while name in taken:
            name = f"{base}-{n}"
            n += 1
        taken.add(name)
    return name
