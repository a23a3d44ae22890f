"""Thunderbird desktop, headless, driven over Marionette (Mozilla's remote protocol).

Run inside the lab's namespace (Marionette listens on the namespace's loopback):

    python -m tests.lab.clients.thunderbird WORKDIR CA_PEM ADDRESS...
    python -m tests.lab.clients.thunderbird --accounts WORKDIR CA_PEM PASSWORD ADDRESS...

For each address it runs, in chrome context, the lookup the Account Hub runs
(``FindConfig.parallelAutoDiscovery``: local files, the ISP's autoconfig URLs, ISPDB, MX,
with Exchange Autodiscover beside them) and, separately, the Exchange Autodiscover lookup
alone, and prints what Thunderbird parsed as one JSON object on stdout.

With ``--accounts`` it goes on as the Account Hub does once the user confirms the found
configuration (comm-central mail/components/accountcreation/views/email.mjs): fills in
the address and password (``AccountConfig.replaceVariables``), lets ``ConfigVerifier`` log
in to the incoming server, creates the account (``CreateInBackend``), fetches the inbox and
lists its subjects, then sends a message to itself through the outgoing server.

The Marionette client is a minimal one written here: length-prefixed JSON over TCP,
``[0, id, command, params]`` out, ``[1, id, error, result]`` back.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
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

#: Runs in chrome context: ``arguments`` = (domain, address, password, marker, resolve).
ACCOUNT_JS = """
const [domain, address, password, marker, resolve] = arguments;
Services.io.manageOfflineStatus = false;
Services.io.offline = false;
const { FindConfig } = ChromeUtils.importESModule(
  "resource:///modules/accountcreation/FindConfig.sys.mjs");
const { AccountConfig } = ChromeUtils.importESModule(
  "resource:///modules/accountcreation/AccountConfig.sys.mjs");
const { ConfigVerifier } = ChromeUtils.importESModule(
  "resource:///modules/accountcreation/ConfigVerifier.sys.mjs");
const { CreateInBackend } = ChromeUtils.importESModule(
  "resource:///modules/accountcreation/CreateInBackend.sys.mjs");
const { MailServices } = ChromeUtils.importESModule(
  "resource:///modules/MailServices.sys.mjs");
const server = s => s && { type: s.type, hostname: s.hostname, port: s.port,
  socketType: s.socketType, auth: s.auth, username: s.username };
const within = (what, promise, ms = 20000) => Promise.race([promise, new Promise(
  (_, fail) => setTimeout(() => fail(new Error(what + ": no answer in " + ms + " ms")), ms))]);
const { setTimeout } = ChromeUtils.importESModule("resource://gre/modules/Timer.sys.mjs");
const listener = () => {
  let done;
  const finished = new Promise((ok, fail) => { done = { ok, fail }; });
  return { finished, OnStartRunningUrl() {}, OnStopRunningUrl(url, status) {
    if (Components.isSuccessCode(status)) { done.ok(); }
    else { done.fail(new Error("status 0x" + (status >>> 0).toString(16))); } } };
};
(async () => {
  const out = { steps: [] };
  try {
    const hub = FindConfig.parallelAutoDiscovery(
      domain, address, new AbortController().signal, password);
    let step = await within("lookup", hub.next());
    if (step.value && step.value.isRedirect) {
      step = await within("lookup", hub.next({ acceptRedirect: false }));
    }
    const config = step.value;
    if (!config || !config.incoming) { throw new Error("no configuration found"); }
    out.subSource = config.subSource;
    AccountConfig.replaceVariables(config, "Alice Lab", address, password);
    out.incoming = server(config.incoming);
    out.outgoing = server(config.outgoing);
    out.steps.push("found");
    await within("verifyConfig",
      new ConfigVerifier(null, new AbortController().signal).verifyConfig(config, false));
    out.steps.push("verified");
    const account = await CreateInBackend.createAccountInBackend(config);
    out.steps.push("created");
    const incoming = account.incomingServer;
    const inbox = incoming.rootFolder.getFolderWithFlags(Ci.nsMsgFolderFlags.Inbox);
    const fetch = listener();
    incoming.getNewMessages(inbox, null, fetch);
    await within("getNewMessages", fetch.finished);
    out.steps.push("fetched");
    out.subjects = [...inbox.msgDatabase.enumerateMessages()].map(h => h.mime2DecodedSubject);
    const outgoing = MailServices.outgoingServer.getServerByIdentity(account.defaultIdentity);
    out.outgoing_server = { type: outgoing.type, hostname: outgoing.serverURI.host,
      port: outgoing.serverURI.port, socketType: outgoing.socketType };
    // Send a message to itself through the outgoing server, as the compose window's
    // "Send" does (nsIMsgSend, deliver now), with no copy to a Sent folder.
    const fields = Cc["@mozilla.org/messengercompose/composefields;1"]
      .createInstance(Ci.nsIMsgCompFields);
    fields.from = address;
    fields.to = address;
    fields.subject = marker;
    fields.fcc = "nocopy://";
    const sending = new Promise((ok, fail) => {
      const send = Cc["@mozilla.org/messengercompose/send;1"].createInstance(Ci.nsIMsgSend);
      const sendListener = {
        QueryInterface: ChromeUtils.generateQI(["nsIMsgSendListener"]),
        onStartSending() {}, onProgress() {}, onStatus() {}, onGetDraftFolderURI() {},
        onSendNotPerformed() {}, onTransportSecurityError() {},
        onStopSending(id, status) {
          if (Components.isSuccessCode(status)) { ok(id); }
          else { fail(new Error("send status 0x" + (status >>> 0).toString(16))); }
        },
      };
      send.createAndSendMessage(null, account.defaultIdentity, account.key, fields, false,
        false, Ci.nsIMsgSend.nsMsgDeliverNow, null, "text/plain",
        "Sent by Thunderbird from the lab.", null, null, sendListener, "", "",
        Ci.nsIMsgCompType.New);
    });
    out.sent_message_id = await within("send", sending);
    out.steps.push("sent");
  } catch (e) { out.error = String(e); }
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


def probe(
    workdir: Path, ca_pem: Path, addresses: list[str], password: str | None = None
) -> dict[str, Any]:
    """Lookups for each address, or with ``password`` the whole account setup."""
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
        client.call("WebDriver:SetTimeouts", {"script": 120000})
        client.call("Marionette:SetContext", {"value": "chrome"})
        version = client.call("WebDriver:ExecuteScript", {"script": VERSION_JS, "args": []})
        results: dict[str, Any] = {"version": version["value"], "lookups": {}, "accounts": {}}
        for address in addresses:
            domain = address.rpartition("@")[2]
            if password is None:
                params = {"script": LOOKUP_JS, "args": [domain, address]}
                kind = "lookups"
            else:
                marker = f"lab-{uuid.uuid4().hex}"
                params = {"script": ACCOUNT_JS, "args": [domain, address, password, marker]}
                kind = "accounts"
            found = client.call("WebDriver:ExecuteAsyncScript", params)["value"]
            if password is not None:
                found["marker"] = marker
            results[kind][address] = found
        return results
    finally:
        stop(process, timeout=15)


def main() -> None:
    if sys.argv[1] == "--accounts":
        workdir, ca_pem, password, *addresses = sys.argv[2:]
        print(json.dumps(probe(Path(workdir), Path(ca_pem), addresses, password)))
        return
    workdir, ca_pem, *addresses = sys.argv[1:]
    print(json.dumps(probe(Path(workdir), Path(ca_pem), addresses)))


if __name__ == "__main__":
    main()
