"""Services: a runbook's "is the pipeline working?" as one rollup across layers.

`[[service]]` entries (console.services.spec) name members by target globs and indicators
(console.services.indicators); after each poll the Session computes every service's state
from its board (console.services.rollup), with the cause found through the built-in
relations between kinds (console.services.relations). Textual-free and pure.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from console.board import CheckBoard
from console.services.facts import TargetFacts, gather
from console.services.rollup import Line, ServiceState, evaluate_service
from console.services.spec import ServiceSpec, parse_services

__all__ = ["Line", "ServiceSpec", "ServiceState", "TargetFacts", "board_facts",
           "evaluate_service", "parse_services", "service_states"]


def board_facts(board: CheckBoard) -> dict[str, TargetFacts]:
    return gather((v.backend, v.result, None) for v in board.views.values())


def service_states(specs: Iterable[ServiceSpec], board: CheckBoard, *,
                   watched_kinds: Iterable[str], now: float | None = None) -> list[ServiceState]:
    """Every service's state from the board, in config order."""
    specs = list(specs)
    if not specs:
        return []
    facts = board_facts(board)
    kinds = tuple(watched_kinds)
    moment = time.time() if now is None else now
    return [evaluate_service(s, facts, watched_kinds=kinds, now=moment) for s in specs]
