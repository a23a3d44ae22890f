"""A hand-written UDP DNS server on loopback that answers whatever the test tells it to.

Knot serves what a zone file may hold, and canonicalises some of it (it lower-cases SRV
targets, never sets AD on an unsigned zone). An attacker on the path is not so polite: this
server sends any reply a test builds, so the service's handling of bytes Knot will not
serve is tested on the wire, through the real socket code of ``LiveSource``.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from types import TracebackType

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.IN.SRV
import dns.rrset

#: Builds the reply to one query; None means stay silent.
Handler = Callable[[dns.message.Message], dns.message.Message | None]


class HostileDns:
    """``with HostileDns(handler) as server:``; ``server.nameserver`` goes into the config."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port: int = self._sock.getsockname()[1]
        self.queries = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def nameserver(self) -> str:
        """The ``dns.nameservers`` entry for this server."""
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> HostileDns:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            try:
                query = dns.message.from_wire(data)
            except dns.exception.DNSException:
                continue
            self.queries += 1
            reply = self._handler(query)
            if reply is not None:
                self._sock.sendto(reply.to_wire(), peer)


def srv_reply(
    query: dns.message.Message,
    records: list[tuple[int, int, int, tuple[bytes, ...]]],
    *,
    authenticated: bool = False,
) -> dns.message.Message:
    """An SRV answer to ``query`` with targets given as raw labels (any octets, any case);
    AD set when ``authenticated``."""
    reply = dns.message.make_response(query)
    question = query.question[0]
    rrset = dns.rrset.RRset(question.name, dns.rdataclass.IN, dns.rdatatype.SRV)
    for priority, weight, port, labels in records:
        target = dns.name.Name((*labels, b""))
        rrset.add(
            dns.rdtypes.IN.SRV.SRV(
                dns.rdataclass.IN, dns.rdatatype.SRV, priority, weight, port, target
            ),
            ttl=300,
        )
    reply.answer.append(rrset)
    if authenticated:
        reply.flags |= dns.flags.AD
    return reply


def rcode_reply(query: dns.message.Message, rcode: dns.rcode.Rcode) -> dns.message.Message:
    """An empty reply with ``rcode`` (NXDOMAIN, SERVFAIL, ...)."""
    reply = dns.message.make_response(query)
    reply.set_rcode(rcode)
    return reply
