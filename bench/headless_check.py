"""Headless check wall time against a sequential curl loop, and start-up cost.

For N = 10, 50, 200 endpoints that each answer after 50 ms, prints the time of
`opsconsole --headless check` and of a shell loop calling curl once per endpoint, and their
ratio; then the start-up overhead of a headless check against `python -c pass`.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.support import delayed_server, endpoints_config, median_seconds, run_quietly

OPSCONSOLE = [sys.executable, "-m", "console.cli"]


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="opsconsole-bench-"))
    env = dict(os.environ, OPSCONSOLE_STATE_DIR=str(workdir / "state"))
    with delayed_server(0.05) as base:
        print(f"{'N':>5} {'opsconsole':>11} {'curl loop':>10} {'ratio':>7}")
        for count in (10, 50, 200):
            config = endpoints_config(workdir / f"c{count}.toml", base, count)
            ours = median_seconds(lambda c=config: run_quietly(
                [*OPSCONSOLE, "--headless", "check", "--config", str(c)], env), repeat=3)
            urls = " ".join(f"{base}/e{i}" for i in range(count))
            loop = (f"for u in {urls}; do curl -s -o /dev/null --max-time 5 \"$u\"; done")
            theirs = median_seconds(lambda s=loop: run_quietly(["bash", "-c", s]), repeat=3)
            print(f"{count:>5} {ours:>10.3f}s {theirs:>9.3f}s {theirs / ours:>6.1f}x")

    empty = workdir / "host.toml"
    empty.write_text("[[host]]\ndisks = ['/']\n")
    bare = median_seconds(lambda: run_quietly([sys.executable, "-c", "pass"]), repeat=7)
    check = median_seconds(lambda: run_quietly(
        [*OPSCONSOLE, "--headless", "check", "--config", str(empty)], env), repeat=7)
    http_one = endpoints_config(workdir / "one.toml", "http://127.0.0.1:9", 1)
    check_http = median_seconds(lambda: run_quietly(
        [*OPSCONSOLE, "--headless", "check", "--config", str(http_one)], env), repeat=7)
    print(f"\nstart-up: python -c pass {bare * 1000:.0f} ms; headless check of the host "
          f"{check * 1000:.0f} ms (+{(check - bare) * 1000:.0f} ms); of one refused HTTP "
          f"endpoint {check_http * 1000:.0f} ms (+{(check_http - bare) * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
