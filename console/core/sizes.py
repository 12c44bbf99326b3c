"""Byte sizes as a person reads them, one convention everywhere: IEC units (KiB, MiB, GiB)."""

from __future__ import annotations

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def format_bytes(size: int | float | None) -> str:
    """`1536` -> "1.5 KiB"; None (not known) -> "-"."""
    if size is None:
        return "-"
    value = float(size)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # not reached: the last unit takes any size
