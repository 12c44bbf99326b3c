"""Depth history per queue family: rate, time to drain, growth and stuck processing.

Kept in memory by the backend across polls; every poll folds one sample in and gets back a
frozen `Trend` that the checks and the screen read.
"""

from __future__ import annotations

import collections
from collections.abc import Hashable
from dataclasses import dataclass, field

HISTORY_SECONDS = 15 * 60.0
RATE_WINDOW = 5 * 60.0
_MAX_SAMPLES = 600


@dataclass(frozen=True)
class Trend:
    """How a family's depth moved over the last minutes."""

    samples: tuple[int, ...] = ()  # depths, oldest first
    rate_per_min: float | None = None  # > 0 growing, < 0 draining
    drain_seconds: float | None = None  # estimated time until empty at the current rate
    growing_since: float | None = None
    processing_unchanged_since: float | None = None  # set while processing is non-empty

    def growing_for(self, now: float) -> float:
        return 0.0 if self.growing_since is None else now - self.growing_since

    def stuck_for(self, now: float) -> float:
        since = self.processing_unchanged_since
        return 0.0 if since is None else now - since


@dataclass
class _FamilyHistory:
    samples: collections.deque[tuple[float, int]] = field(
        default_factory=lambda: collections.deque(maxlen=_MAX_SAMPLES))
    growing_since: float | None = None
    processing_signature: Hashable = None
    processing_since: float | None = None


class History:
    """Samples per family name; `add` is called once per poll."""

    def __init__(self) -> None:
        self._families: dict[str, _FamilyHistory] = {}

    def add(self, family: str, now: float, depth: int, processing: int | None = None,
            processing_signature: Hashable = None) -> Trend:
        state = self._families.setdefault(family, _FamilyHistory())
        samples = state.samples
        previous = samples[-1][1] if samples else None
        samples.append((now, depth))
        while samples and samples[0][0] < now - HISTORY_SECONDS:
            samples.popleft()
        if previous is not None:
            if depth > previous:
                if state.growing_since is None:
                    state.growing_since = samples[-2][0] if len(samples) > 1 else now
            elif depth < previous or depth == 0:
                state.growing_since = None
        if not processing:
            state.processing_signature, state.processing_since = None, None
        else:
            signature = (processing, processing_signature)
            if state.processing_since is None or not _same(signature,
                                                           state.processing_signature):
                state.processing_since = now
            state.processing_signature = signature
        rate = _rate(samples, now)
        drain = depth / -rate * 60.0 if rate is not None and rate < 0 and depth > 0 else None
        return Trend(tuple(d for _, d in samples), rate, drain, state.growing_since,
                     state.processing_since)

    def drop_except(self, families: set[str]) -> None:
        for name in [n for n in self._families if n not in families]:
            del self._families[name]


def _same(new: tuple[int, Hashable], old: Hashable) -> bool:
    """Whether processing is unchanged; a missing sample (first poll of a key) compares counts."""
    if not isinstance(old, tuple):
        return False
    if new[1] is None or old[1] is None:
        return bool(new[0] == old[0])
    return new == old


def _rate(samples: collections.deque[tuple[float, int]], now: float) -> float | None:
    """Items per minute over the rate window (least squares, so one odd poll weighs little)."""
    recent = [(t, d) for t, d in samples if t >= now - RATE_WINDOW]
    if len(recent) < 2:
        return None
    mean_t = sum(t for t, _ in recent) / len(recent)
    mean_d = sum(d for _, d in recent) / len(recent)
    spread = sum((t - mean_t) ** 2 for t, _ in recent)
    if spread <= 0:
        return None
    slope = sum((t - mean_t) * (d - mean_d) for t, d in recent) / spread
    return slope * 60.0


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: tuple[int, ...], width: int = 16) -> str:
    """The last `width` depths as block characters, scaled to their own maximum."""
    shown = values[-width:]
    if not shown:
        return ""
    top = max(shown)
    if top <= 0:
        return SPARK[0] * len(shown)
    return "".join(SPARK[min(len(SPARK) - 1, int(v / top * (len(SPARK) - 1) + 0.5))]
                   for v in shown)
