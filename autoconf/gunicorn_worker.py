"""gunicorn's gthread worker with a read and write timeout on every client socket.

gthread waits for a request's first byte without holding a thread, but from then on a
thread blocks on the socket until the request is complete: a client that sends half a
header (or half a declared body) and stops holds that thread for ever, and threads x
workers such connections stop the service. Here every blocking read or write on a client
socket gives up after ``AUTOCONF_CLIENT_TIMEOUT`` seconds (:data:`autoconf.server.CLIENT_TIMEOUT`,
like nginx's ``client_header_timeout``/``client_body_timeout``), so a stalled request frees its
thread.

The timeout bounds silence, not a whole request: a client trickling a byte every few seconds
is still limited only by the request-line and header limits. The proxy in front (nginx, Caddy,
an ingress) bounds whole requests and connection counts; this is the floor when gunicorn is
reached directly.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

from autoconf.server import CLIENT_TIMEOUT

#: The info line logged instead of gunicorn's "Socket error" traceback when a client stalls.
STALLED_MESSAGE = "client stalled mid-request past the read timeout: connection closed"


def client_timeout() -> int:
    """Seconds of silence allowed on a client socket mid-request (``AUTOCONF_CLIENT_TIMEOUT``)."""
    return CLIENT_TIMEOUT.integer()


def is_stall(error: BaseException | None) -> bool:
    """Whether ``error`` is a socket timeout set here: a blocking socket whose
    SO_RCVTIMEO/SO_SNDTIMEO expired fails with EAGAIN (BlockingIOError); TLS sockets
    report TimeoutError."""
    return isinstance(error, BlockingIOError | TimeoutError)


class ClientTimeoutWorker(ThreadWorker):  # type: ignore[misc]
    """ThreadWorker whose connections time out on reads and writes (socket(7) SO_RCVTIMEO)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # struct timeval {time_t tv_sec; suseconds_t tv_usec;}: two C longs on Linux.
        self._timeval = struct.pack("@ll", client_timeout(), 0)

    def handle(self, conn: Any) -> Any:
        # Kernel socket options, not socket.settimeout(): ThreadWorker.handle() switches the
        # socket to blocking mode, which resets Python's own timeout; these survive it.
        try:
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, self._timeval)
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, self._timeval)
        except OSError:
            pass  # the peer is gone already; handle() finds out and closes the connection
        return super().handle(conn)
