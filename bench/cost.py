"""What it costs to leave opsconsole open, and to run its cron check, beside the alternatives.

Brings up the demo's real stack (systemd in a container with a healthy, a failed and a
flapping unit; Redis with a queue family; a Celery worker; Docker with a healthy and a
crash-looping container; PostgreSQL; an HTTP endpoint; the host) and measures, in one run:

  TUI idle CPU over 30 s and resident memory (the process and its systemd worker), and the
  time to the first full screen, against a bare Textual app showing a 26-row table that
  changes one cell every 2 s, and pg_activity on the same database when it is installed;
  `--headless check` of every target against the same checks as a sequential shell script;
  `--headless check --only host` against `python -c pass`;
  the CPU milliseconds of one poll round of each kind alone;
  and the floors under them: Python importing only the third-party modules the command ends
  up with (its client libraries, and Textual for the memory), read off a real run.

Then it adds ten times the targets (70 units, 10 queue families, 20 containers, 20 HTTP
endpoints, the database swapped for one with 200 tables) and measures the TUI, the check and
each kind's poll round again, so the growth of cost with work shows beside the 1x figures.

Needs root and what console/sandbox/install.sh installs.
Run: python bench/cost.py [--runs N]   (the stack comes up once; every figure is taken N times)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.tui_idle import start, tmux, wait_for_checks

IDLE_SECONDS = 30
RUNS = 3  # runs of each command whose median is taken
KINDS = ("systemd", "redis", "celery", "docker", "postgres", "http", "host")
SCALE = 10
UNITS, QUEUES, CONTAINERS, ENDPOINTS, TABLES = 70, 10, 20, 20, 200
BARE_TABLE_APP = """
from textual.app import App
from textual.widgets import DataTable, Footer, Header
class Bare(App):
    def compose(self):
        yield Header()
        yield DataTable()
        yield Footer()
    def on_mount(self):
        table = self.query_one(DataTable)
        for label in ("Status", "Target", "Summary"):
            table.add_column(label, key=label)
        for i in range(26):
            table.add_row("OK", f"target {i}", f"summary {i}", key=str(i))
        self.ticks = 0
        self.set_interval(2, self.tick)
    def tick(self):
        self.ticks += 1
        self.query_one(DataTable).update_cell("0", "Summary", f"changed {self.ticks}")
Bare().run()
"""


def wait_for(session: str, predicate: Any, limit: float = 60) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if predicate(tmux("capture-pane", "-p", "-t", session)):
            return time.monotonic() - started
        time.sleep(0.01)
    raise SystemExit(f"never ready:\n{tmux('capture-pane', '-p', '-t', session)}")


def tree(process: psutil.Process) -> list[psutil.Process]:
    return [process, *process.children(recursive=True)]


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """CPU of the processes, and of the children they started and reaped meanwhile (the
    journalctl a poll runs): a short-lived helper's cost is the console's cost too."""
    total = 0.0
    for p in processes:
        try:
            times = p.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
        except psutil.Error:
            pass
    return total


def idle(process: psutil.Process) -> tuple[float, float]:
    """(% of a core over IDLE_SECONDS, resident MB) of a process and its children."""
    members = tree(process)
    before = cpu_seconds(members)
    time.sleep(IDLE_SECONDS)
    used = cpu_seconds(members) - before
    rss = sum(p.memory_info().rss for p in members if p.is_running()) / 1e6
    return 100 * used / IDLE_SECONDS, rss


def run_wall(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Median (wall s, CPU s) of RUNS runs of a command."""
    walls, cpus = [], []
    for _ in range(RUNS):
        before = os.times()
        started = time.monotonic()
        subprocess.run(argv, env=env, capture_output=True, timeout=120, check=False)
        walls.append(time.monotonic() - started)
        after = os.times()
        cpus.append((after.children_user - before.children_user)
                    + (after.children_system - before.children_system))
    return statistics.median(walls), statistics.median(cpus)


def shell_check(stack: Any) -> str:
    """The same checks as a sequential shell script, as a cron'd health check does them."""
    pid = stack.systemd.leader_pid
    units = " ".join(["demo-web.service", "demo-broken.service", "demo-flappy.service"])
    return f"""set +e
for u in {units}; do nsenter -t {pid} -a systemctl is-active "$u" >/dev/null; done
redis-cli -p {stack.redis.port} llen demo:jobs:queue >/dev/null
redis-cli -p {stack.redis.port} scard demo:jobs:processing >/dev/null
redis-cli -p {stack.redis.port} scard demo:jobs:failed >/dev/null
redis-cli -p {stack.redis.port} -n 1 llen celery >/dev/null
for c in $(docker -H {stack.docker.host} ps -aq); do
  docker -H {stack.docker.host} inspect "$c" >/dev/null
done
psql "{stack.postgres.dsn("demo")}" -Atc "select count(*) from pg_stat_activity" >/dev/null
curl -sf -m 5 http://127.0.0.1:{stack.web_port}/health >/dev/null
df -P / >/dev/null
free >/dev/null
"""


def _reaped_children_cpu() -> float:
    times = os.times()
    return times.children_user + times.children_system


def poll_round_ms(config_path: Path, section: str) -> float:
    """CPU ms of one poll round (collect + evaluate, and the helpers it ran: journalctl) of
    one kind's backends, in process, as the TUI polls them while its Overview is on screen:
    push sources (events streams, D-Bus signals) started, no view's details asked for."""
    from console.assembly import build_backends
    from console.config import load_config
    from console.poller import BackendState, poll_once

    config = load_config(str(config_path))
    config.sections = {section: config.sections[section]}
    backends = build_backends(config)

    async def rounds() -> float:
        states = [BackendState() for _ in backends]
        for backend in backends:
            backend.detail = False
            backend.watch(lambda: None)
        await asyncio.sleep(2)  # the push sources connect
        for backend, state in zip(backends, states, strict=True):  # warm up: connect, import
            await poll_once(backend, state, config.redactor)
        started, children = time.process_time(), _reaped_children_cpu()
        for _ in range(10):
            for backend, state in zip(backends, states, strict=True):
                await poll_once(backend, state, config.redactor)
        used = (time.process_time() - started + _reaped_children_cpu() - children) / 10
        for backend in backends:
            await backend.close()
        return used * 1000

    return asyncio.run(rounds())


def scale_up(stack: Any) -> None:
    """Ten times the demo's targets beside it, named scale-* (the 1x config does not see them)."""
    from console.sandbox.docker_engine import BUSYBOX_IMAGE

    machine = stack.systemd
    for i in range(UNITS - 3):
        machine.add_unit(f"scale-{i:02d}.service", "[Unit]\nDescription=Scale test unit\n"
                         "[Service]\nExecStart=/bin/sleep infinity\n")
    machine.daemon_reload()
    machine.systemctl("start", "--no-block", *(f"scale-{i:02d}.service"
                                               for i in range(UNITS - 3)))
    import redis

    client = redis.Redis.from_url(stack.redis.url)
    for q in range(1, QUEUES):
        client.rpush(f"scale:q{q}:queue", *[f"job-{i}" for i in range(10 * q)])
        client.sadd(f"scale:q{q}:failed", f"job-{q}")
    client.close()
    docker = stack.docker.client()
    try:
        for i in range(CONTAINERS - 2):
            docker.containers.run(BUSYBOX_IMAGE, ["sleep", "86400"], name=f"scale-{i:02d}",
                                  detach=True, init=True, network_mode="none",
                                  restart_policy={"Name": "unless-stopped"})
    finally:
        docker.close()
    stack.postgres.create_database("scale")
    stack.postgres.psql("".join(
        f"CREATE TABLE t{i:03d} (id serial PRIMARY KEY, item text); "
        f"INSERT INTO t{i:03d} (item) SELECT 'item ' || g FROM generate_series(1, 100) g; "
        for i in range(TABLES)), dbname="scale", timeout=120)


def scaled_config(text: str, stack: Any) -> str:
    """The demo's config over ten times the targets."""
    queues = "".join(f"""  [[redis.queues]]
  name = "q{q}"
  queue = "scale:q{q}:queue"
  processing = "scale:q{q}:processing"
  failed = "scale:q{q}:failed"
""" for q in range(1, QUEUES))
    endpoints = "".join(f"""[[http]]
name = "web{n}"
url = "http://127.0.0.1:{stack.web_port}/health?n={n}"

""" for n in range(2, ENDPOINTS + 1))
    replaced = (text.replace('units = ["demo-*.service"]',
                             'units = ["demo-*.service", "scale-*.service"]')
                .replace('containers = ["demo-*"]', 'containers = ["demo-*", "scale-*"]')
                .replace(stack.postgres.dsn("demo"), stack.postgres.dsn("scale"))
                .replace("\n[[celery]]", queues + "\n[[celery]]")
                .replace("\n[[host]]", "\n" + endpoints + "[[host]]"))
    assert replaced.count("[[http]]") == ENDPOINTS and replaced.count("scale-*") == 2
    return replaced


_OWN = ("console", "backends", "screens", "widgets", "bench", "tests", "__main__")
LOADED_PROGRAM = """
import sys
from console.cli import main
own = set(sys.argv[1].split(","))
main(sys.argv[2:])  # with its arguments given, main() returns instead of ending the process
names = sorted(n for n, m in sys.modules.items() if m is not None and
               n.split(".")[0] not in sys.stdlib_module_names and n.split(".")[0] not in own
               and not n.startswith("_"))
sys.stderr.write("LOADED " + " ".join(names) + chr(10))
"""


def libraries_loaded(args: list[str], env: dict[str, str]) -> list[str]:
    """Every third-party module an opsconsole command has loaded when it ends."""
    done = subprocess.run([sys.executable, "-c", LOADED_PROGRAM, ",".join(_OWN), *args],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    line = next(x for x in done.stderr.splitlines() if x.startswith("LOADED "))
    return line.split()[1:]


FLOOR_PROGRAM = """
import sys, time, resource
started = time.perf_counter()
for name in sys.argv[1:]:
    try:
        __import__(name)
    except Exception:
        pass  # a module only its package loads, in its own order
print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3)
"""


def library_floor(libraries: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(wall s of `python -c` importing only these libraries, of which the imports, peak
    resident MB): what any Python program using the same client libraries pays to start."""
    walls, imports, rss = [], [], []
    for _ in range(RUNS):
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-c", FLOOR_PROGRAM, *libraries], env=env,
                              capture_output=True, text=True, timeout=120, check=True)
        walls.append(time.monotonic() - started)
        took, peak = (float(v) for v in done.stdout.split())
        imports.append(took)
        rss.append(peak)
    return statistics.median(walls), statistics.median(imports), statistics.median(rss)


def check_count(config: Path, env: dict[str, str]) -> int:
    """How many checks the config makes (what a full screen counts in its top bar)."""
    done = subprocess.run([sys.executable, "-m", "console.cli", "--headless", "check",
                           "--format", "json", "--config", str(config)], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    return len(json.loads(done.stdout)["checks"])


def measure_tui(config: Path, env: dict[str, str], name: str) -> tuple[float, float, float]:
    """(seconds to the first full screen, % of a core idle, resident MB) of the console.

    The screen is full when the top bar counts every check the config makes."""
    count = check_count(config, env)
    session = f"cost-{name}-{os.getpid()}"
    started = time.monotonic()
    tui = start(session, [sys.executable, "-m", "console.cli", "--config", str(config)], env)
    try:
        wait_for_checks(session, count)
        paint = time.monotonic() - started
        time.sleep(3)
        cpu, rss = idle(tui)
    finally:
        tmux("kill-session", "-t", session)
    return paint, cpu, rss


def measure(stack: Any, config: Path, config10: Path, workdir: Path,
            env: dict[str, str]) -> list[tuple[str, str, str]]:
    """One run of every row of the table, with its reference taken in the same run."""
    rows: list[tuple[str, str, str]] = []
    paint, ours_cpu, ours_rss = measure_tui(config, env, "tui")

    bare_file = workdir / "bare.py"
    bare_file.write_text(BARE_TABLE_APP)
    session = f"cost-bare-{os.getpid()}"
    started = time.monotonic()
    bare = start(session, [sys.executable, str(bare_file)], env)
    try:
        wait_for(session, lambda screen: "target 25" in screen)
        bare_paint = time.monotonic() - started
        time.sleep(3)
        bare_cpu, bare_rss = idle(bare)
    finally:
        tmux("kill-session", "-t", session)
    rows.append(("TUI idle CPU, refresh 2 s", f"{ours_cpu:.2f} % of a core",
                 f"bare Textual + 26-row table {bare_cpu:.2f} % ({ours_cpu / bare_cpu:.1f}x)"))
    rows.append(("TUI resident memory (tree)", f"{ours_rss:.0f} MB",
                 f"bare Textual app {bare_rss:.0f} MB"))
    rows.append(("first full screen", f"{paint:.2f} s",
                 f"bare Textual app {bare_paint:.2f} s ({paint / bare_paint:.1f}x)"))

    if shutil.which("pg_activity"):
        session = f"cost-pga-{os.getpid()}"
        pga = start(session, ["pg_activity", "--refresh", "2", stack.postgres.dsn("demo")], env)
        try:
            time.sleep(5)
            if pga.is_running():
                pga_cpu, pga_rss = idle(pga)
                rows.append(("pg_activity on the same database", "",
                             f"{pga_cpu:.2f} %, {pga_rss:.0f} MB"))
            else:
                print("pg_activity exited at once: not measured")
        finally:
            tmux("kill-session", "-t", session)

    check_args = ["--headless", "check", "--config", str(config)]
    check_wall, check_cpu = run_wall([sys.executable, "-m", "console.cli", *check_args], env)
    script = workdir / "check.sh"
    script.write_text(shell_check(stack))
    shell_wall, _ = run_wall(["bash", str(script)], env)
    rows.append(("--headless check, every target", f"{check_wall:.2f} s wall, "
                 f"{check_cpu:.2f} s CPU", f"shell script {shell_wall:.2f} s "
                 f"({check_wall / shell_wall:.2f}x)"))
    libraries = libraries_loaded(check_args, env)
    floor_wall, floor_imports, floor_rss = library_floor(libraries, env)
    tops = sorted({name.split(".")[0] for name in libraries})
    rows.append(("  floor: python importing its libraries", f"{floor_wall:.2f} s wall "
                 f"({floor_imports:.2f} s imports)", f"{len(libraries)} modules of "
                 f"{', '.join(tops)}"))
    tui_libraries = sorted({*libraries, "textual.app", "textual.widgets"})
    _, _, tui_floor_rss = library_floor(tui_libraries, env)
    rows.append(("  floor: resident MB with textual too", f"{tui_floor_rss:.0f} MB peak",
                 f"check's libraries alone {floor_rss:.0f} MB"))
    rows.append(("  floor: first screen", f"{bare_paint + floor_imports:.2f} s",
                 "the bare app's first screen + importing the check's libraries"))
    only_args = ["--headless", "check", "--config", str(config), "--only", "host"]
    only_wall, only_cpu = run_wall([sys.executable, "-m", "console.cli", *only_args], env)
    pass_wall, pass_cpu = run_wall([sys.executable, "-c", "pass"], env)
    rows.append(("--headless check --only host", f"{only_wall:.2f} s wall, {only_cpu:.2f} s CPU",
                 f"python -c pass {pass_wall:.2f} s, {pass_cpu:.2f} s CPU "
                 f"({only_wall / pass_wall:.1f}x)"))
    only_libraries = [*libraries_loaded(only_args, env), "asyncio"]
    only_floor, _, _ = library_floor(only_libraries, env)
    rows.append(("  floor: python importing its libraries", f"{only_floor:.2f} s wall",
                 ", ".join(sorted({n.split(".")[0] for n in only_libraries}))))

    paint10, cpu10, rss10 = measure_tui(config10, env, "tui10")
    rows.append(("10x targets: TUI idle CPU", f"{cpu10:.2f} % of a core",
                 f"1x {ours_cpu:.2f} % ({cpu10 / ours_cpu:.1f}x)"))
    rows.append(("10x targets: TUI memory (tree)", f"{rss10:.0f} MB", f"1x {ours_rss:.0f} MB"))
    rows.append(("10x targets: first full screen", f"{paint10:.2f} s", f"1x {paint:.2f} s"))
    check10_wall, check10_cpu = run_wall([sys.executable, "-m", "console.cli", "--headless",
                                          "check", "--config", str(config10)], env)
    rows.append(("10x targets: --headless check", f"{check10_wall:.2f} s wall, "
                 f"{check10_cpu:.2f} s CPU", f"1x {check_wall:.2f} s, {check_cpu:.2f} s CPU"))
    return rows


def print_rows(rows: list[tuple[str, str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"{'what':<{width}}  {'opsconsole':<28}  reference (same run)")
    for what, ours, theirs in rows:
        print(f"{what:<{width}}  {ours:<28}  {theirs}")


def print_kinds(config: Path, config10: Path) -> None:
    print(f"\nCPU per poll round, each kind alone (collect + evaluate, in process):\n"
          f"  {'kind':<9} {'1x':>8} {SCALE}x targets {'ratio':>7}")
    for section in KINDS:
        one = poll_round_ms(config, section)
        ten = poll_round_ms(config10, section)
        print(f"  {section:<9} {one:6.1f} ms {ten:8.1f} ms {ten / one:7.1f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=1, help="measure everything N times")
    args = parser.parse_args()
    if os.geteuid() != 0 or not shutil.which("tmux"):
        raise SystemExit("run as root with tmux installed (bash console/sandbox/install.sh)")
    from console.demo import DemoStack

    workdir = Path(tempfile.mkdtemp(prefix="opsconsole-cost-"))
    stack = DemoStack()
    stack.start()
    try:
        scale_up(stack)
        config = workdir / "config.toml"
        config.write_text(stack.config_text(workdir / "state"))
        config10 = workdir / "config10.toml"
        config10.write_text(scaled_config(config.read_text(), stack))
        env = dict(os.environ, TERM="xterm-256color",
                   PYTHONPATH=str(Path(__file__).resolve().parent.parent))
        # as installed: modules load from compiled bytecode (written by the first runs)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        for warm in (["-m", "console.cli", "--headless", "check", "--config", str(config10)],
                     ["-c", "import screens.overview, screens.units"]):
            subprocess.run([sys.executable, *warm], env=env, capture_output=True, timeout=120,
                           check=False)
        for run in range(1, args.runs + 1):
            print(f"== run {run} of {args.runs}", flush=True)
            print_rows(measure(stack, config, config10, workdir, env))
            print_kinds(config, config10)
            print(f"\nload average: {os.getloadavg()}\n", flush=True)
    finally:
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
