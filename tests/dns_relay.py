"""A UDP relay in front of the real Knot that can be told to black-hole.

While answering, every datagram is passed to Knot and Knot's reply passed back unchanged;
while black-holed, queries are received and dropped, never answered: what a resolver behind
a broken network looks like (no ICMP, no SERVFAIL, just silence). Not a fake resolver:
every answer the service sees comes from Knot.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Relay:
    """Forwards DNS datagrams to ``upstream`` until :meth:`black_hole` is called."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self._answering = threading.Event()
        self._answering.set()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def nameserver(self) -> str:
        """``host:port`` for ``dns.nameservers``."""
        host, port = self._sock.getsockname()
        return f"{host}:{port}"

    def black_hole(self) -> None:
        """From now on, take queries and never answer."""
        self._answering.clear()

    def close(self) -> None:
        self._stopped.set()
        self._thread.join(5)
        self._sock.close()

    def _run(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as upstream:
            upstream.settimeout(1.0)
            while not self._stopped.is_set():
                try:
                    query, client = self._sock.recvfrom(65535)
                except TimeoutError:
                    continue
                if not self._answering.is_set():
                    continue
                upstream.sendto(query, self._upstream)
                try:
                    reply, _ = upstream.recvfrom(65535)
                except TimeoutError:
                    continue
                self._sock.sendto(reply, client)


@contextmanager
def relay(upstream: tuple[str, int]) -> Iterator[Relay]:
    """A running :class:`Relay` to ``upstream`` for the block."""
    running = Relay(upstream)
    try:
        yield running
    finally:
        running.close()
