"""Running blocking probe code without ever waiting past a deadline.

A blocking library call (docker SDK, Celery's inspect) runs in a daemon thread: when its
deadline passes the probe gives up and moves on, and the stuck thread cannot hold up the
program's exit the way a thread of asyncio's default executor would.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def blocking(call: Callable[[], T], timeout: float) -> T:
    """Run `call` in a daemon thread; raise TimeoutError when it takes longer than `timeout`."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(value: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)  # type: ignore[arg-type]

    def work() -> None:
        try:
            value = call()
        except BaseException as exc:  # handed to the awaiting probe
            _hand_over(loop, settle, None, exc)
            return
        _hand_over(loop, settle, value, None)

    threading.Thread(target=work, name="discovery-probe", daemon=True).start()
    async with asyncio.timeout(timeout):
        return await future


def _hand_over(loop: asyncio.AbstractEventLoop, settle: Callable[..., None], *args: object) -> None:
    try:
        loop.call_soon_threadsafe(settle, *args)
    except RuntimeError:  # the loop is gone: nobody waits for this answer any more
        pass


