"""Following a journal that grows by 5,000 lines a second: does the UI still answer keys?

Boots the test bed's systemd in nspawn, opens the console (Textual's headless driver,
160x48) on a unit's detail view, and measures how long a key press takes to be handled
and how late the event loop runs, first while the unit is quiet, then while it writes
5,000 lines a second. Prints both and their ratio. Run as root:
.venv/bin/python bench/journal_follow.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual import events
from textual.pilot import Pilot

from console.config import load_config
from console.sandbox.systemd_machine import SystemdMachine
from screens.app import OpsConsoleApp
from screens.unit_detail import UnitDetailScreen
from widgets.log_view import LogView

RATE = 5000
SECONDS = 10
FLOOD = ("[Service]\nLogRateLimitIntervalSec=0\n"
         "ExecStart=/bin/sh -c 'while :; do sleep 0.1 & seq -f \"line %%g of a busy unit\" 1 "
         "{per_tick}; wait; done'\n")
PER_TICK = RATE // 10  # a round lasts 0.1 s however long seq takes (sleep runs alongside)


async def sample(pilot: Pilot[int], screen: UnitDetailScreen, log: LogView,
                 seconds: float) -> dict[str, float]:
    """Press "n" every 100 ms; time from the key event being posted to the screen's action
    running (the action only notes the time), and how late a 50 ms timer fires."""
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    keys: list[float] = []
    handled: list[float] = []
    original = screen.action_next_match

    def timed_key() -> None:
        handled.append(time.perf_counter())

    screen.action_next_match = timed_key  # type: ignore[method-assign]
    received = log.received
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        planned = loop.time() + 0.05
        await asyncio.sleep(0.05)
        lags.append(loop.time() - planned)
        count = len(handled)
        started = time.perf_counter()
        pilot.app.post_message(events.Key("n", "n"))
        while len(handled) == count:
            await asyncio.sleep(0.001)
        keys.append(handled[-1] - started)
        await asyncio.sleep(0.05)
    screen.action_next_match = original  # type: ignore[method-assign]
    keys.sort()
    return {"key_p50": statistics.median(keys), "key_p95": keys[int(len(keys) * 0.95)],
            "key_max": keys[-1], "lag_max": max(lags),
            "lines_per_s": (log.received - received) / seconds}


async def run(machine: SystemdMachine, config: Path, unit: str) -> None:
    app = OpsConsoleApp(load_config(str(config)))
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(1)
        app.push_screen(UnitDetailScreen("systemd:system", unit))
        await pilot.pause(1)
        screen = app.screen
        assert isinstance(screen, UnitDetailScreen)
        log = screen.query_one(LogView)
        quiet = await sample(pilot, screen, log, SECONDS)
        machine.systemctl("start", unit)
        started = time.monotonic()
        await pilot.pause(2)
        busy = await sample(pilot, screen, log, SECONDS)
        machine.systemctl("stop", unit)
        ran = time.monotonic() - started
    written = len(machine.journal(unit, timeout=60).splitlines())
    print(f"the unit wrote {written / ran:.0f} lines/s into the journal while it ran")
    for name, figures in (("quiet", quiet), (f"{RATE} lines/s", busy)):
        print(f"{name:>14}: key handled in p50 {figures['key_p50'] * 1000:6.1f} ms, "
              f"p95 {figures['key_p95'] * 1000:6.1f} ms, max {figures['key_max'] * 1000:6.1f} ms;"
              f" event loop late by at most {figures['lag_max'] * 1000:6.1f} ms; "
              f"{figures['lines_per_s']:7.0f} lines/s shown")
    print(f"key p95 busy/quiet: {busy['key_p95'] / quiet['key_p95']:.1f}x "
          f"(target: every key under 100 ms; max was {busy['key_max'] * 1000:.0f} ms)")
    if busy["lines_per_s"] < RATE * 0.9:
        print(f"note: the unit wrote fewer than {RATE} lines/s here ({busy['lines_per_s']:.0f})")


def main() -> None:
    machine = SystemdMachine().start()
    try:
        unit = "bench-flood.service"
        machine.add_unit(unit, FLOOD.format(per_tick=PER_TICK))
        machine.daemon_reload()
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "config.toml"
            config.write_text(f'[console]\nstate_dir = "{tmp}/state"\n'
                              f'[[systemd]]\nunits = ["{unit}"]\n'
                              f'bus = "{machine.bus_address}"\n'
                              f'journal_dir = "{machine.journal_dir}"\n')
            asyncio.run(run(machine, config, unit))
    finally:
        machine.stop()


if __name__ == "__main__":
    main()
