"""The listening ports the host check reads from the kernel: what listens is there (IPv4 and
IPv6), a socket that is only bound or only connected is not, and the /proc/net fallback
finds the same."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from backends import host
from backends.sockdiag import listening_tcp_ports


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    made: list[socket.socket] = []
    yield made
    for sock in made:
        sock.close()


def _socket(made: list[socket.socket], family: int, address: str,
            listen: bool) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    made.append(sock)
    sock.bind((address, 0))
    if listen:
        sock.listen()
    return sock


def test_listening_ports_are_read_and_only_those(sockets: list[socket.socket]) -> None:
    v4 = _socket(sockets, socket.AF_INET, "127.0.0.1", listen=True).getsockname()[1]
    v6 = _socket(sockets, socket.AF_INET6, "::1", listen=True).getsockname()[1]
    bound = _socket(sockets, socket.AF_INET, "127.0.0.1", listen=False).getsockname()[1]
    client = socket.create_connection(("127.0.0.1", v4), timeout=5)
    sockets.append(client)
    outgoing = client.getsockname()[1]

    found = listening_tcp_ports()

    assert {v4, v6} <= found
    assert bound not in found
    assert outgoing not in found


def test_the_kernel_and_proc_net_agree(monkeypatch: pytest.MonkeyPatch,
                                        sockets: list[socket.socket]) -> None:
    port = _socket(sockets, socket.AF_INET, "127.0.0.1", listen=True).getsockname()[1]
    from_kernel = host.listening_ports()

    def unavailable(timeout: float = 1.0) -> frozenset[int]:
        raise host.DiagUnavailable("not here")

    monkeypatch.setattr(host, "listening_tcp_ports", unavailable)
    from_proc = host.listening_ports()

    assert port in from_kernel
    assert port in from_proc  # (other processes on the host may open ports in between)
