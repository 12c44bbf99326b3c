"""Following a log file that grows by 10,000 lines a second: lines shown, CPU, key answers.

Opens the console (Textual's headless driver, 160x48) on the Logs view of one file, first
while the file is quiet, then while a separate writer process appends 10,000 lines a second
for 30 s. Prints the lines shown per second, the console's CPU (this process; the writer is
another one), and how long a key press takes to be handled, quiet against busy.
Run: .venv/bin/python bench/logs_follow.py [seconds]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual import events
from textual.pilot import Pilot

from console.config import load_config
from screens.app import OpsConsoleApp
from screens.logs import LogsScreen
from widgets.log_view import LogView

RATE = 10_000
WRITER = """
import sys, time, datetime
path, rate, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
per_tick = rate // 20
end = time.monotonic() + seconds
n = 0
with open(path, "a", buffering=1 << 20) as out:
    while time.monotonic() < end:
        tick = time.monotonic()
        now = datetime.datetime.now().isoformat(sep=" ", timespec="milliseconds")
        out.write("".join(f"{now} INFO app.worker: processed record {n + i} in 12 ms\\n"
                          for i in range(per_tick)))
        out.flush()
        n += per_tick
        time.sleep(max(0.0, 0.05 - (time.monotonic() - tick)))
print(n)
"""


async def sample(pilot: Pilot[int], screen: LogsScreen, log: LogView,
                 seconds: float) -> dict[str, float]:
    """Post a key every 100 ms; time until the screen's action for it runs."""
    handled: list[float] = []

    def timed_key() -> None:
        handled.append(time.perf_counter())

    screen.action_next_match = timed_key  # type: ignore[method-assign]
    received = log.received
    cpu = time.process_time()
    started_at = time.monotonic()
    answers: list[float] = []
    while time.monotonic() - started_at < seconds:
        count = len(handled)
        posted = time.perf_counter()
        pilot.app.post_message(events.Key("n", "n"))
        while len(handled) == count and time.perf_counter() - posted < 5:
            await asyncio.sleep(0.001)
        answers.append(handled[-1] - posted if len(handled) > count else 5.0)
        await asyncio.sleep(0.1)
    elapsed = time.monotonic() - started_at
    answers.sort()
    return {"lines_per_s": (log.received - received) / elapsed,
            "cpu_percent": 100 * (time.process_time() - cpu) / elapsed,
            "key_median_ms": 1000 * statistics.median(answers),
            "key_p95_ms": 1000 * answers[int(len(answers) * 0.95) - 1],
            "key_max_ms": 1000 * answers[-1]}


async def main(seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="logs-follow-") as tmp:
        log_path = Path(tmp) / "busy.log"
        log_path.write_text("")
        config = Path(tmp) / "config.toml"
        config.write_text(f"[[logs]]\nname = 'busy'\npath = '{log_path}'\n")
        os.environ["OPSCONSOLE_STATE_DIR"] = str(Path(tmp) / "state")
        app = OpsConsoleApp(load_config(str(config)))
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.press("0")
            await pilot.pause(1.0)
            screen = app.screen
            assert isinstance(screen, LogsScreen)
            log = screen.query_one(LogView)
            quiet = await sample(pilot, screen, log, 5)
            writer = subprocess.Popen([sys.executable, "-c", WRITER, str(log_path), str(RATE),
                                       str(seconds)], stdout=subprocess.PIPE, text=True)
            busy = await sample(pilot, screen, log, seconds)
            written = int(writer.communicate(timeout=30)[0])
            await pilot.pause(1.0)
            shown_total = log.received
    print(f"file grew by {written} lines in {seconds:g}s ({written / seconds:,.0f} lines/s)")
    print(f"lines taken in by the view: {shown_total} ({100 * shown_total / written:.1f}%)")
    for label, data in (("quiet", quiet), ("busy", busy)):
        print(f"{label:5}: {data['lines_per_s']:8,.0f} lines/s shown, CPU {data['cpu_percent']:5.1f}%"
              f" of a core, key answer median {data['key_median_ms']:.1f} ms, "
              f"p95 {data['key_p95_ms']:.1f} ms, max {data['key_max_ms']:.1f} ms")
    print(f"key answer busy/quiet (median): {busy['key_median_ms'] / quiet['key_median_ms']:.1f}x")


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1]) if len(sys.argv) > 1 else 30.0))
