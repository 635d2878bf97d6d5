"""Network access refused in convert's worker processes, every attempt recorded.

Both workers (the source's and onnx2tf's) call `block_network()` first: a connection or
a name lookup raises, and `ATTEMPTS` keeps what was tried so the report can prove that
none happened.
"""

from __future__ import annotations

import socket

ATTEMPTS: list[str] = []


def block_network() -> None:
    """Refuse (and record) every attempt to open a connection or resolve a name."""

    def refuse(*args, **kwargs):
        ATTEMPTS.append(repr(args[1:] if args and isinstance(args[0], socket.socket) else args)[:200])
        raise OSError("network access is disabled in portmodel convert")

    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse
