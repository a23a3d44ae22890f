"""Delta Chat (PyPI ``deltachat-rpc-server``), configuring accounts (clients.md section 4.4).

Run inside the lab's namespace (the RPC server it starts resolves through the lab's DNS):

    python -m tests.lab.clients.deltachat RPC_SERVER ACCOUNTS_DIR ADDRESS...

For each address it runs ``configure()`` and collects the core's log events until the
configuration ends. Nothing listens on the mail ports, so it ends in failure at the IMAP
connect (expected); the ``Used params`` warning before that holds the servers the core
chose. Prints one JSON object on stdout.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from deltachat_rpc_client import DeltaChat
from deltachat_rpc_client import Rpc

#: ``imap:[host:port:security:user]`` groups of the ``Used params`` warning (core 2.x);
#: the groups hold one or more comma-separated candidates.
_PARAMS = re.compile(r"\b(imap|smtp):\[([^\]]*)\]")
#: The core logs every URL it fetches: ``Fetching "https://..."``.
_FETCHING = re.compile(r'Fetching "([^"]+)"')


def used_params(messages: list[str]) -> dict[str, list[str]]:
    """``{"imap": ["host:port:security", ...], "smtp": [...]}`` from the last ``Used params``."""
    used = [m for m in messages if "Used params" in m]
    if not used:
        return {}
    groups = _PARAMS.findall(used[-1])
    return {kind: [c.strip() for c in found.split(",")] for kind, found in groups}


def configure(dc: DeltaChat, address: str) -> dict[str, Any]:
    account = dc.add_account()
    account.set_config("addr", address)
    account.set_config("mail_pw", "lab-password")
    # The lab CA is not in Delta Chat's compiled-in roots; "2" accepts any certificate,
    # also for the autoconfig fetches (clients.md section 4.3).
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
    return {
        "outcome": outcome,
        "used": used_params(messages),
        "fetched": fetched,
        "messages": messages[-60:],
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
