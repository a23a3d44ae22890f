"""A delaying UDP relay in front of a real DNS server (Knot), on loopback.

It makes every DNS round trip cost ``delay`` seconds more, so a request that waited for DNS
would show, and so would a refresh that is not done ahead of time. Nothing is answered
here: each datagram is passed to the upstream server after the delay and its reply passed
back unchanged. Used by the warm-start tests and ``bench/warm.py``.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType


class SlowRelay:
    """``with SlowRelay(upstream, delay) as relay:`` then ask ``relay.nameserver``."""

    def __init__(self, upstream: tuple[str, int], delay: float) -> None:
        self.upstream = upstream
        self.delay = delay
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self.port: int = self._socket.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="slow-dns", daemon=True)
        self.relayed = 0

    @property
    def nameserver(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> SlowRelay:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(5)
        self._socket.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, client = self._socket.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            self.relayed += 1
            threading.Thread(target=self._relay, args=(data, client), daemon=True).start()

    def _relay(self, data: bytes, client: tuple[str, int]) -> None:
        time.sleep(self.delay)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as upstream:
            upstream.settimeout(2)
            try:
                upstream.sendto(data, self.upstream)
                reply, _ = upstream.recvfrom(65535)
                self._socket.sendto(reply, client)
            except OSError:
                pass  # no reply: the client times out, as with a real lost datagram
