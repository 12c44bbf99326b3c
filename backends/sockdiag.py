"""The TCP ports something listens on, asked of the kernel's socket diagnostics (netlink).

This is how `ss -ltn` reads them: the kernel walks only its table of listening sockets.
Reading /proc/net/tcp instead makes it format every socket of the host (established and
TIME_WAIT ones included), which on a busy server costs milliseconds per poll.
"""

from __future__ import annotations

import socket
import struct

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
TCP_LISTEN = 10

_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port id
_REQUEST = struct.Struct("=BBBBI48x")  # inet_diag_req_v2: family, protocol, ext, pad, states
_SPORT = struct.Struct("!H")  # inet_diag_msg's source port, 4 bytes into the message


class DiagUnavailable(OSError):
    """The kernel offers no socket diagnostics here (module missing, not permitted)."""


def listening_tcp_ports(timeout: float = 1.0) -> frozenset[int]:
    """Every TCP port in LISTEN state, IPv4 and IPv6; DiagUnavailable if netlink cannot say."""
    found: set[int] = set()
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as sock:
            sock.settimeout(timeout)
            for sequence, family in enumerate((socket.AF_INET, socket.AF_INET6), start=1):
                found |= _dump(sock, family, sequence)
    except (OSError, struct.error) as exc:
        raise DiagUnavailable(str(exc)) from None
    return frozenset(found)


def _dump(sock: socket.socket, family: int, sequence: int) -> set[int]:
    body = _REQUEST.pack(family, socket.IPPROTO_TCP, 0, 0, 1 << TCP_LISTEN)
    sock.send(_HEADER.pack(_HEADER.size + len(body), SOCK_DIAG_BY_FAMILY,
                           NLM_F_REQUEST | NLM_F_DUMP, sequence, 0) + body)
    ports: set[int] = set()
    while True:
        data = sock.recv(65536)
        offset = 0
        while offset + _HEADER.size <= len(data):
            length, kind, _, seq, _ = _HEADER.unpack_from(data, offset)
            if length < _HEADER.size:
                raise DiagUnavailable("malformed netlink answer")
            if seq == sequence:
                if kind == NLMSG_DONE:
                    return ports
                if kind == NLMSG_ERROR:
                    (error,) = struct.unpack_from("=i", data, offset + _HEADER.size)
                    raise DiagUnavailable(f"sock_diag error {-error}")
                if kind == SOCK_DIAG_BY_FAMILY:
                    (port,) = _SPORT.unpack_from(data, offset + _HEADER.size + 4)
                    ports.add(port)
            offset += (length + 3) & ~3
