"""The cron job's own heartbeat, healthchecks.io style: `/start`, then the URL or `/fail`.

A monitor that hears nothing after `/start`, or nothing at all, knows the job stopped running.
Each ping is bounded by a timeout and never changes the check's result.
"""

from __future__ import annotations

from console.core.errors import one_line
from console.core.model import Status


def ping_url(url: str, status: Status | None) -> str:
    """`URL/start` before the run (status None), `URL` on OK, `URL/fail` otherwise."""
    base = url.rstrip("/")
    if status is None:
        return f"{base}/start"
    return base if status is Status.OK else f"{base}/fail"


def ping(url: str, status: Status | None, body: str = "", timeout: float = 5.0) -> str | None:
    """Send one ping; the error in one line, or None."""
    if timeout <= 0:
        return "no time left before the check's deadline"
    from backends.http.client import httpx  # only when a heartbeat is configured

    try:
        response = httpx.post(ping_url(url, status), content=body.encode()[:10000],
                              timeout=timeout, follow_redirects=True)
    except httpx.TimeoutException:
        return f"no answer within {timeout:g}s"
    except httpx.HTTPError as exc:
        return one_line(exc)
    if response.status_code >= 400:
        return f"HTTP {response.status_code}"
    return None
