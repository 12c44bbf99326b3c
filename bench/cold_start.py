"""Import cost of each step of a headless check, from `python -X importtime`.

Prints, for the modules opsconsole itself imports on the way to a headless check of one HTTP
endpoint, the cumulative import time, largest first, and the total against `python -c pass`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

STEPS = ("console.cli", "console.config", "console.headless", "console.assembly",
         "console.poller", "console.dispatcher", "console.core.audit", "backends.base",
         "backends.http", "backends.host", "httpx", "psutil", "asyncio", "tomllib", "sqlite3")


def import_times(argv: list[str]) -> dict[str, int]:
    result = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True,
                            text=True, timeout=60, check=False)
    times: dict[str, int] = {}
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        if cumulative.isdigit():
            times[name.strip()] = int(cumulative)
    return times


def main() -> None:
    config = Path(tempfile.mkdtemp(prefix="opsconsole-bench-")) / "one.toml"
    config.write_text("[[http]]\nname = 'api'\nurl = 'http://127.0.0.1:9/'\ntimeout = 1\n")
    times = import_times(["-m", "console.cli", "--headless", "check", "--config", str(config)])
    bare = import_times(["-c", "pass"])
    print(f"{'module':<22} {'cumulative import':>18}")
    for name in sorted(STEPS, key=lambda n: -times.get(n, 0)):
        if name in times:
            print(f"{name:<22} {times[name] / 1000:>15.1f} ms")
    ours = sum(v for k, v in times.items() if "." not in k)
    base = sum(v for k, v in bare.items() if "." not in k)
    print(f"\nall top-level imports: {ours / 1000:.0f} ms (python -c pass: {base / 1000:.0f} ms)")
    print("textual imported:", "textual" in times)


if __name__ == "__main__":
    main()
