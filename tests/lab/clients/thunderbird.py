"""Thunderbird desktop, headless, driven over Marionette (clients.md section 1.8).

Run inside the lab's namespace (Marionette listens on the namespace's loopback):

    python -m tests.lab.clients.thunderbird WORKDIR CA_PEM ADDRESS...

For each address it runs, in chrome context, the lookup the Account Hub runs
(``FindConfig.parallelAutoDiscovery``: local files, the ISP's autoconfig URLs, ISPDB, MX,
with Exchange Autodiscover beside them) and, separately, the Exchange Autodiscover lookup
alone, and prints what Thunderbird parsed as one JSON object on stdout.

The Marionette client is a minimal one written here: length-prefixed JSON over TCP,
``[0, id, command, params]`` out, ``[1, id, error, result]`` back.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.processes import stop

MARIONETTE_PORT = 2828

#: Profile preferences (user.js). Gecko decides it is offline inside a namespace that has
#: only ``lo``; DNS-over-HTTPS would bypass the namespace's resolver; the rest keeps a
#: headless first start quiet and fast.
PREFS = {
    "marionette.port": MARIONETTE_PORT,
    "network.manage-offline-status": False,
    "network.trr.mode": 5,
    "mail.shell.checkDefaultClient": False,
    "mail.provider.suppress_dialog_on_startup": True,
    "mail.spotlight.firstRunDone": True,
    "mail.winsearch.firstRunDone": True,
    "app.update.enabled": False,
    "app.update.auto": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.enabled": False,
    "extensions.update.enabled": False,
    "browser.dom.window.dump.enabled": True,
    "mailnews.auto_config.account_constraints": False,
}

#: Runs in chrome context: ``arguments`` = (domain, address, resolve).
LOOKUP_JS = """
const [domain, address, resolve] = arguments;
Services.io.manageOfflineStatus = false;
Services.io.offline = false;
const { FindConfig } = ChromeUtils.importESModule(
  "resource:///modules/accountcreation/FindConfig.sys.mjs");
const { fetchConfigFromExchange } = ChromeUtils.importESModule(
  "resource:///modules/accountcreation/ExchangeAutoDiscover.sys.mjs");
const servers = list => list.filter(s => s && s.hostname).map(s => ({
  type: s.type, hostname: s.hostname, port: s.port, socketType: s.socketType,
  auth: s.auth, username: s.username }));
const { AccountConfig } = ChromeUtils.importESModule(
  "resource:///modules/accountcreation/AccountConfig.sys.mjs");
// The logins the account is created with: placeholders filled by Thunderbird's own
// AccountConfig.replaceVariables, as account creation does (primary servers only).
const logins = c => {
  const copy = c.copy();
  AccountConfig.replaceVariables(copy, "Lab User", address, "lab-password");
  return { incoming: copy.incoming.username, outgoing: copy.outgoing.username };
};
const summary = c => c && {
  source: c.source, subSource: c.subSource,
  incoming: servers([c.incoming, ...(c.incomingAlternatives || [])]),
  outgoing: servers([c.outgoing, ...(c.outgoingAlternatives || [])]),
  logins: logins(c) };
const noThirdParty = async () => { throw new Error("redirect to a third party refused"); };
(async () => {
  const out = {};
  const started = Date.now();
  try {
    const hub = FindConfig.parallelAutoDiscovery(
      domain, address, new AbortController().signal, "lab-password");
    let step = await hub.next();
    if (step.value && step.value.isRedirect) {
      out.hub_redirect = step.value.host;
      step = await hub.next({ acceptRedirect: false });
    }
    out.hub = summary(step.value);
  } catch (e) { out.hub_error = String(e); }
  try {
    out.exchange = summary(await fetchConfigFromExchange(
      domain, address, new AbortController().signal, null, "lab-password", noThirdParty));
  } catch (e) {
    out.exchange_error = String(e) + (e.errors ? " " + e.errors.map(String).join("; ") : "");
  }
  out.seconds = (Date.now() - started) / 1000;
  return out;
})().then(resolve, e => resolve({ error: String(e) }));
"""

VERSION_JS = "return Services.appinfo.version;"


class Marionette:
    """Just enough of the Marionette protocol (level 3) to run chrome scripts."""

    def __init__(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.buffer = b""
        self.next_id = 0
        hello = self._receive()
        assert hello.get("marionetteProtocol") == 3, hello

    def _receive(self) -> Any:
        while b":" not in self.buffer:
            self._fill()
        length, _, self.buffer = self.buffer.partition(b":")
        while len(self.buffer) < int(length):
            self._fill()
        message, self.buffer = self.buffer[: int(length)], self.buffer[int(length) :]
        return json.loads(message)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("Marionette closed the connection")
        self.buffer += chunk

    def call(self, command: str, params: dict[str, Any] | None = None) -> Any:
        self.next_id += 1
        data = json.dumps([0, self.next_id, command, params or {}]).encode()
        self.sock.sendall(str(len(data)).encode() + b":" + data)
        while True:
            kind, message_id, error, result = self._receive()
            if kind == 1 and message_id == self.next_id:
                break
        if error:
            raise RuntimeError(f"{command}: {error}")
        return result


def make_profile(profile: Path, ca_pem: Path) -> None:
    """A fresh profile whose NSS database trusts the lab CA for TLS servers."""
    profile.mkdir(parents=True)
    certdb = f"sql:{profile}"
    subprocess.run(["certutil", "-N", "--empty-password", "-d", certdb], check=True)
    subprocess.run(
        ["certutil", "-A", "-n", "autoconf lab CA", "-t", "C,,", "-i", str(ca_pem), "-d", certdb],
        check=True,
    )
    lines = [f"user_pref({json.dumps(k)}, {json.dumps(v)});" for k, v in PREFS.items()]
    (profile / "user.js").write_text("\n".join(lines) + "\n")


def probe(workdir: Path, ca_pem: Path, addresses: list[str]) -> dict[str, Any]:
    profile = workdir / "profile"
    make_profile(profile, ca_pem)
    env = {"HOME": str(workdir), "MOZ_HEADLESS": "1", "PATH": "/usr/bin:/bin"}
    argv = ["thunderbird", "--headless", "--no-remote", "--marionette"]
    argv += ["--remote-allow-system-access", "--profile", str(profile)]
    with (workdir / "thunderbird.log").open("wb") as log:
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        client = Marionette(MARIONETTE_PORT, timeout=60)
        client.call("WebDriver:NewSession", {"capabilities": {"timeouts": {"script": 60000}}})
        client.call("Marionette:SetContext", {"value": "chrome"})
        version = client.call("WebDriver:ExecuteScript", {"script": VERSION_JS, "args": []})
        results = {"version": version["value"], "lookups": {}}
        for address in addresses:
            domain = address.rpartition("@")[2]
            params = {"script": LOOKUP_JS, "args": [domain, address]}
            results["lookups"][address] = client.call("WebDriver:ExecuteAsyncScript", params)[
                "value"
            ]
        return results
    finally:
        stop(process, timeout=15)


def main() -> None:
    workdir, ca_pem, *addresses = sys.argv[1:]
    print(json.dumps(probe(Path(workdir), Path(ca_pem), addresses)))


if __name__ == "__main__":
    main()
