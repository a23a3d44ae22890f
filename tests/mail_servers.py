"""Small scripted IMAP, POP3, submission and HTTP servers on loopback, healthy or broken
on purpose, for the probe's tests (``check --probe``, autoconf/diagnostics/probe.py).

Each speaks just enough of its protocol for a client that stops before authenticating,
with TLS from a trustme CA (the right name, another name, or expired). The real servers
(Dovecot, Postfix, Radicale) are probed in the lab (tests/lab, root).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass

#: One connection's script: it gets the connection and the TLS context to switch to.
Script = Callable[["Conversation"], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Faults:
    """What a scripted server gets wrong (nothing by default)."""

    starttls: bool = True
    auth_before_tls: bool = False
    auth_after_tls: bool = True


class Conversation:
    """One accepted connection: line I/O, and STARTTLS on request."""

    def __init__(
        self, sock: socket.socket, context: ssl.SSLContext | None, heard: list[str]
    ) -> None:
        self.sock = sock
        self.context = context
        self.heard = heard
        self.reader = sock.makefile("rb")

    def send(self, *lines: str) -> None:
        self.sock.sendall("".join(f"{line}\r\n" for line in lines).encode())

    def line(self) -> str:
        line = self.reader.readline(4096).decode(errors="replace").rstrip("\r\n")
        self.heard.append(line)
        return line

    def start_tls(self) -> None:
        assert self.context is not None
        self.reader.close()
        self.sock = self.context.wrap_socket(self.sock, server_side=True)
        self.reader = self.sock.makefile("rb")


class ScriptedServer:
    """A threaded TCP server on 127.0.0.1 running ``script`` per connection; implicit TLS
    when ``implicit``."""

    def __init__(self, script: Script, context: ssl.SSLContext | None, implicit: bool) -> None:
        self.script = script
        self.context = context
        self.implicit = implicit
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port: int = self.listener.getsockname()[1]
        #: Every line any client sent (to show that no credential ever arrives).
        self.heard: list[str] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(sock,), daemon=True).start()

    def _handle(self, sock: socket.socket) -> None:
        sock.settimeout(5)
        conversation = None
        with contextlib.suppress(OSError, ssl.SSLError, ValueError):
            if self.implicit:
                assert self.context is not None
                sock = self.context.wrap_socket(sock, server_side=True)
            conversation = Conversation(sock, self.context, self.heard)
            self.script(conversation)
        with contextlib.suppress(OSError):
            if conversation is not None:
                conversation.reader.close()
                conversation.sock.close()
            sock.close()

    def close(self) -> None:
        self._stopping.set()
        self.listener.close()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def serving(
    script: Script, context: ssl.SSLContext | None, *, implicit: bool
) -> Iterator[ScriptedServer]:
    server = ScriptedServer(script, context, implicit)
    try:
        yield server
    finally:
        server.close()


def imap(faults: Faults = Faults()) -> Script:
    """IMAP4rev1: greeting, CAPABILITY, STARTTLS, LOGOUT."""

    def caps(tls: bool) -> str:
        words = ["IMAP4rev1", "LITERAL+", "ID"]
        if not tls and faults.starttls:
            words.append("STARTTLS")
        if tls and faults.auth_after_tls:
            words += ["AUTH=PLAIN", "AUTH=LOGIN"]
        if not tls and faults.auth_before_tls:
            words.append("AUTH=PLAIN")
        if not tls and not faults.auth_before_tls:
            words.append("LOGINDISABLED")
        if tls and not faults.auth_after_tls:
            words.append("LOGINDISABLED")
        return " ".join(words)

    def script(c: Conversation) -> None:
        tls = isinstance(c.sock, ssl.SSLSocket)
        c.send("* OK scripted IMAP ready")
        while line := c.line():
            tag, _, command = line.partition(" ")
            command = command.upper()
            if command == "CAPABILITY":
                c.send(f"* CAPABILITY {caps(tls)}", f"{tag} OK done")
            elif command == "STARTTLS" and faults.starttls and not tls:
                c.send(f"{tag} OK begin TLS")
                c.start_tls()
                tls = True
            elif command == "LOGOUT":
                c.send("* BYE", f"{tag} OK bye")
                return
            else:
                c.send(f"{tag} BAD unexpected")

    return script


def pop3(faults: Faults = Faults()) -> Script:
    """POP3: greeting, CAPA, STLS, QUIT."""

    def script(c: Conversation) -> None:
        tls = isinstance(c.sock, ssl.SSLSocket)
        c.send("+OK scripted POP3 ready")
        while line := c.line():
            command = line.upper()
            if command == "CAPA":
                lines = ["TOP", "UIDL"]
                if not tls and faults.starttls:
                    lines.append("STLS")
                if (tls and faults.auth_after_tls) or (not tls and faults.auth_before_tls):
                    lines += ["USER", "SASL PLAIN LOGIN"]
                c.send("+OK", *lines, ".")
            elif command == "STLS" and faults.starttls and not tls:
                c.send("+OK begin TLS")
                c.start_tls()
                tls = True
            elif command == "QUIT":
                c.send("+OK bye")
                return
            else:
                c.send("-ERR unexpected")

    return script


def submission(faults: Faults = Faults()) -> Script:
    """ESMTP submission: greeting, EHLO, STARTTLS, QUIT."""

    def script(c: Conversation) -> None:
        tls = isinstance(c.sock, ssl.SSLSocket)
        c.send("220 mail.example.test ESMTP scripted")
        while line := c.line():
            command = line.upper()
            if command.startswith("EHLO "):
                keywords = ["PIPELINING", "SIZE 10240000", "8BITMIME"]
                if not tls and faults.starttls:
                    keywords.append("STARTTLS")
                if (tls and faults.auth_after_tls) or (not tls and faults.auth_before_tls):
                    keywords.append("AUTH PLAIN LOGIN")
                lines = ["mail.example.test", *keywords]
                c.send(*(f"250-{k}" for k in lines[:-1]), f"250 {lines[-1]}")
            elif command == "STARTTLS" and faults.starttls and not tls:
                c.send("220 2.0.0 Ready to start TLS")
                c.start_tls()
                tls = True
            elif command == "QUIT":
                c.send("221 2.0.0 Bye")
                return
            else:
                c.send("502 5.5.2 unexpected")

    return script


def http(status: int, headers: dict[str, str]) -> Script:
    """An HTTP/1.1 server answering every request with ``status`` and ``headers``."""

    def script(c: Conversation) -> None:
        while c.line():  # request line and headers, up to the empty line
            pass
        extra = [f"{k}: {v}" for k, v in headers.items()]
        c.send(f"HTTP/1.1 {status} Scripted", *extra, "Content-Length: 0", "Connection: close", "")

    return script


def dav(kind: str) -> Script:
    """A DAV server's unauthenticated answers: OPTIONS 200 with the DAV classes, PROPFIND
    401 (as a server that wants credentials)."""
    classes = "1, 2, 3, " + ("calendar-access" if kind == "caldav" else "addressbook")

    def script(c: Conversation) -> None:
        method = c.line().partition(" ")[0]
        while c.line():
            pass
        if method == "OPTIONS":
            c.send("HTTP/1.1 200 OK", f"DAV: {classes}", "Allow: OPTIONS, PROPFIND")
        else:
            c.send("HTTP/1.1 401 Unauthorized", 'WWW-Authenticate: Basic realm="dav"')
        c.send("Content-Length: 0", "Connection: close", "")

    return script
