"""A delaying UDP relay in front of a real DNS server (Knot), on loopback.

It makes every DNS round trip cost ``delay`` seconds more, so a request that waited for DNS
would show, and so would a refresh that is not done ahead of time. Nothing is answered
here: each datagram is passed to the upstream server at once and its reply passed back
unchanged ``delay`` seconds later. One asyncio loop in one thread, however many datagrams
are in flight. Used by the warm-start tests and ``bench/warm.py``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from types import TracebackType
from typing import cast


class _Upstream(asyncio.DatagramProtocol):
    """One query's socket towards the upstream server; the reply goes back after a delay."""

    def __init__(self, relay: SlowRelay, client: tuple[str, int]) -> None:
        self.relay = relay
        self.client = client
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(self.relay.delay, self.relay.answer, data, self.client)
        assert self.transport is not None
        self.relay.drop(self.transport)


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, relay: SlowRelay) -> None:
        self.relay = relay

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.relay.relayed += 1
        asyncio.get_running_loop().create_task(self.relay.forward(data, addr))


class SlowRelay:
    """``with SlowRelay(upstream, delay) as relay:`` then ask ``relay.nameserver``."""

    def __init__(self, upstream: tuple[str, int], delay: float) -> None:
        self.upstream = upstream
        self.delay = delay
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._listener: asyncio.DatagramTransport | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="slow-dns")
        self._thread.daemon = True
        self.relayed = 0
        #: Upstream sockets of queries in flight (closed on reply, timeout or exit).
        self._open: set[asyncio.BaseTransport] = set()

    @property
    def nameserver(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> SlowRelay:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        started.result(10)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _close(self) -> None:
        for transport in (self._listener, *self._open):
            if transport is not None:
                transport.close()
        await asyncio.sleep(0)  # let the transports finish closing

    async def _listen(self) -> None:
        transport, _ = await self._loop.create_datagram_endpoint(
            lambda: _Listener(self), sock=self._socket
        )
        self._listener = cast(asyncio.DatagramTransport, transport)

    async def forward(self, data: bytes, client: tuple[str, int]) -> None:
        transport, _ = await self._loop.create_datagram_endpoint(
            lambda: _Upstream(self, client), remote_addr=self.upstream
        )
        self._open.add(transport)
        transport.sendto(data)
        # No reply within 5 s: give up, as a lost datagram (the client times out).
        self._loop.call_later(5, self.drop, transport)

    def drop(self, transport: asyncio.BaseTransport) -> None:
        transport.close()
        self._open.discard(transport)

    def answer(self, data: bytes, client: tuple[str, int]) -> None:
        if self._listener is not None and not self._listener.is_closing():
            self._listener.sendto(data, client)
