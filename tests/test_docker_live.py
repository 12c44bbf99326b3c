"""Live sources against a real dockerd: log follow and the events stream."""

from __future__ import annotations

import threading
import time

from backends.docker.engine import Engine
from backends.docker.logs import LogFollower
from console.core.loglines import LogLine
from tests.test_docker_support import DockerLab, backend_for, docker_lab, wait_for

__all__ = ["docker_lab"]


def test_logs_tail_then_follow_with_streams_apart(docker_lab: DockerLab) -> None:
    docker_lab.run("chatty", ["sh", "-c", "echo 'old line'; echo 'ERROR old failure' >&2; "
                              "i=0; while true; do i=$((i+1)); echo \"out $i\"; "
                              "echo \"err $i\" >&2; sleep 0.2; done"])
    wait_for(lambda: b"out 2" in docker_lab.client.api.logs(docker_lab.name("chatty")),
             what="first lines")
    woken = threading.Event()
    follower = LogFollower(Engine(docker_lab.engine.host, 5), docker_lab.name("chatty"),
                           woken.set, tail_lines=100)
    follower.start()
    seen: list[LogLine] = []
    try:
        def collected() -> bool:
            woken.clear()
            seen.extend(follower.drain())
            return any(line.text == "out 12" for line in seen)

        wait_for(collected, timeout=20, what="followed lines")
    finally:
        follower.close()
    texts = [line.text for line in seen]
    # Docker stamps each stream as it reads it, so lines written together may swap:
    # order is kept within each stream.
    assert "old line" in texts[:4]
    for source in ("stdout", "stderr"):
        stamps = [line.ts or 0.0 for line in seen if line.source == source]
        assert stamps == sorted(stamps)
    old_error = next(line for line in seen if line.text == "ERROR old failure")
    assert old_error.source == "stderr" and old_error.is_error
    assert next(line for line in seen if line.text == "out 12").source == "stdout"
    assert next(line for line in seen if line.text == "err 3").source == "stderr"
    assert all(line.ts is not None and abs(line.ts - time.time()) < 120 for line in seen)
    outs = [int(t.split()[1]) for t in texts if t.startswith("out ")]
    assert outs == list(range(1, outs[-1] + 1)), "a line was lost or repeated"


def test_events_stream_wakes_the_poller(docker_lab: DockerLab) -> None:
    docker_lab.run("evented", ["sleep", "3600"])
    backend = backend_for(docker_lab.config())
    wakes: list[float] = []
    backend.watch(lambda: wakes.append(time.monotonic()))
    try:
        wait_for(lambda: backend.events is not None and backend.events.connected,
                 what="events connected")
        time.sleep(0.3)
        wakes.clear()
        docker_lab.client.api.stop(docker_lab.name("evented"), timeout=1)
        wait_for(lambda: wakes, what="a wake-up after the stop")
        time.sleep(1.0)  # the stop's kill/die/stop events all arrive
        count = len(wakes)
        docker_lab.client.containers.run(
            "opsconsole-test/busybox:latest", ["true"], name=f"other-{docker_lab.prefix}",
            network_mode="none", remove=True)
        time.sleep(0.5)
        assert len(wakes) == count, "an unwatched container woke the poller"
    finally:
        import asyncio

        asyncio.run(backend.close())


def test_logs_of_a_missing_container_say_why(docker_lab: DockerLab) -> None:
    woken = threading.Event()
    follower = LogFollower(Engine(docker_lab.engine.host, 5), docker_lab.name("absent"),
                           woken.set)
    follower.start()
    try:
        assert woken.wait(10)
        lines = follower.drain()
    finally:
        follower.close()
    assert lines[0].text.startswith("logs unavailable: ")
    assert "No such container" in lines[0].text
    assert lines[0].is_error


def test_container_logs_are_a_source_of_the_logs_view(docker_lab: DockerLab) -> None:
    from backends.docker.logs import ContainerLogSource

    docker_lab.run("talker", ["sh", "-c", "while true; do echo to-stdout; echo to-stderr >&2; "
                              "sleep 0.3; done"])
    source = ContainerLogSource(Engine(docker_lab.engine.host, 5), docker_lab.name("talker"))
    seen: list[LogLine] = []
    try:
        def both() -> bool:
            seen.extend(source.read())
            return {"to-stdout", "to-stderr"} <= {line.text for line in seen}

        wait_for(both, timeout=20, what="lines of both streams")
    finally:
        source.close()
    label = f"container:{docker_lab.name('talker')}"
    assert {line.source for line in seen} == {label, f"{label} stderr"}
