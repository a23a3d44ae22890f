"""Delta Chat (PyPI ``deltachat-rpc-server``, ``deltachat-rpc-client``), configuring accounts.

Run inside the lab's namespace (the RPC server it starts resolves through the lab's DNS):

    python -m tests.lab.clients.deltachat RPC_SERVER ACCOUNTS_DIR ADDRESS...

For each address it runs ``configure()`` and collects the core's log events until the
configuration ends; the ``Used params`` warning holds the servers the core chose. The
configuration logs in to the lab's Dovecot and Postfix (tests/lab/mailservers.py), so it
succeeds for every served variant. Then the account goes online and sends a message to
itself (its "Saved messages", sent by mail with ``bcc_self``); the core reports it
delivered once Postfix accepted it, and the test finds it in the Dovecot mailbox. Prints
one JSON object on stdout.
"""

from __future__ import annotations

import json
import re
import sys
import time
import uuid
from typing import Any

from deltachat_rpc_client import Account
from deltachat_rpc_client import DeltaChat
from deltachat_rpc_client import Rpc
from deltachat_rpc_client.const import MessageState

#: How long the core may take to send the message to self (SMTP with TLS and AUTH).
SEND_SECONDS = 60

#: ``imap:[host:port:security:user]`` groups of the ``Used params`` warning (core 2.x);
#: the groups hold one or more comma-separated candidates.
_PARAMS = re.compile(r"\b(imap|smtp):\[([^\]]*)\]")
#: The Message-ID line of the core's message info.
_MESSAGE_ID = re.compile(r"^Message-ID: (\S+)$", re.MULTILINE)
#: The core logs every URL it fetches: ``Fetching "https://..."``.
_FETCHING = re.compile(r'Fetching "([^"]+)"')


def used_params(messages: list[str]) -> dict[str, list[str]]:
    """``{"imap": ["host:port:security", ...], "smtp": [...]}`` from the last ``Used params``
    warning (logged when configure fails)."""
    used = [m for m in messages if "Used params" in m]
    return parse_params(used[-1]) if used else {}


def parse_params(text: str) -> dict[str, list[str]]:
    """The ``imap:[...] smtp:[...]`` groups of a ``Used params`` warning or of the
    account's ``used_transport_settings`` (same format: every candidate, in order)."""
    groups = _PARAMS.findall(text)
    return {kind: [c.strip() for c in found.split(",")] for kind, found in groups}


def configure(dc: DeltaChat, address: str) -> dict[str, Any]:
    account = dc.add_account()
    account.set_config("addr", address)
    account.set_config("mail_pw", "lab-password")
    # The lab CA is not in Delta Chat's compiled-in roots; "2" accepts any certificate,
    # also for the autoconfig fetches (deltachat.h: DC_CERTCK_ACCEPT_INVALID = 2).
    account.set_config("imap_certificate_checks", "2")
    future = account.configure.future()
    messages: list[str] = []
    while True:
        event = account.wait_for_event()
        if event.kind in ("Info", "Warning", "Error"):
            messages.append(event.msg)
        if event.kind == "ConfigureProgress" and event.progress in (0, 1000):
            outcome = "configured" if event.progress == 1000 else "failed"
            break
    try:
        future()
    except Exception as error:
        messages.append(f"configure: {error}")
    fetched = [found.group(1) for m in messages if (found := _FETCHING.search(m))]
    result: dict[str, Any] = {
        "outcome": outcome,
        "used": used_params(messages),
        "fetched": fetched,
        "messages": messages[-60:],
    }
    if outcome == "configured":
        # A successful configure logs no "Used params": the account's settings list the
        # same candidates, in the same order.
        settings = account.get_info().get("used_transport_settings", "")
        result["used"] = parse_params(settings)
        result["sent"] = send_to_self(account)
    return result


def send_to_self(account: Account) -> dict[str, Any]:
    """Send a text to the account's own "Saved messages" and wait until the core calls it
    delivered (or failed); the marker lets the test find it in the mailbox."""
    account.set_config("bcc_self", "1")
    account.start_io()
    marker = f"lab-{uuid.uuid4().hex}"
    message = account.self_contact.create_chat().send_text(f"Delta Chat to itself {marker}")
    deadline = time.monotonic() + SEND_SECONDS
    state = MessageState.OUT_PENDING
    while time.monotonic() < deadline:
        state = MessageState(message.get_snapshot().state)
        if state in (MessageState.OUT_DELIVERED, MessageState.OUT_FAILED):
            break
        time.sleep(0.2)
    snapshot = message.get_snapshot()
    # The text travels encrypted (Autocrypt, to itself): the Message-ID finds it.
    found = _MESSAGE_ID.search(message.get_info())
    account.stop_io()
    return {
        "marker": marker,
        "text": snapshot.text,
        "state": state.name,
        "error": snapshot.error,
        "message_id": found.group(1) if found else "",
        "encrypted": bool(snapshot.show_padlock),
    }


def main() -> None:
    server, accounts_dir, *addresses = sys.argv[1:]
    with Rpc(accounts_dir=accounts_dir, rpc_server_path=server) as rpc:
        dc = DeltaChat(rpc)
        info = dc.get_system_info()
        results = {
            "version": info.deltachat_core_version,
            "accounts": {address: configure(dc, address) for address in addresses},
        }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
