"""Probe: a local supervisord, at $SUPERVISOR_SERVER_URL or the usual socket paths.

One getAllProcessInfo call over the socket, without a login; a supervisord that asks for
one is reported with what to add.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from backends.discovery.model import Finding, ProbeResult
from backends.discovery.timing import blocking

SOCKETS = ("/var/run/supervisor.sock", "/run/supervisor.sock", "/tmp/supervisor.sock",
           "/var/run/supervisor/supervisor.sock", "/run/supervisord.sock")


def candidates() -> list[str]:
    from_env = os.environ.get("SUPERVISOR_SERVER_URL", "").strip()
    if from_env.startswith(("unix://", "http://")):
        return [from_env]
    return [f"unix://{path}" for path in SOCKETS if os.path.exists(path)]


def where() -> str:
    found = candidates()
    return found[0] if found else "supervisord sockets"


async def probe(timeout: float, earlier: Sequence[ProbeResult] = ()) -> ProbeResult:
    started = time.monotonic()
    urls = candidates()
    if not urls:
        return ProbeResult("supervisor", where(),
                           missing=f"no supervisord socket at {', '.join(SOCKETS[:3])}",
                           elapsed=time.monotonic() - started)
    from backends.supervisor.rpc import RpcError, SupervisorRpc  # only when a socket exists

    url = urls[0]
    rpc = SupervisorRpc(url, None, None, timeout)
    try:
        infos = await blocking(rpc.all_process_info, timeout)
    except TimeoutError:
        return ProbeResult("supervisor", url, missing=f"no answer within {timeout:g}s",
                           elapsed=time.monotonic() - started)
    except RpcError as exc:
        text = str(exc)
        if "refused the login" in text:
            text = (f"supervisord at {url} needs a login: add a [[supervisor]] entry with "
                    "username and password_file")
        return ProbeResult("supervisor", url, missing=text, elapsed=time.monotonic() - started)
    states: dict[str, int] = {}
    for info in infos:
        state = str(info.get("statename", "UNKNOWN"))
        states[state] = states.get(state, 0) + 1
    counts = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    summary = f"{len(infos)} programs" + (f" ({counts})" if counts else "")
    table = {"name": "supervisor", "url": url}
    return ProbeResult("supervisor", url, (Finding("supervisor", table, summary),), summary,
                       elapsed=time.monotonic() - started)
