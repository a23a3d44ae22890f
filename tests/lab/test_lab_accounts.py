"""Real clients finish setting up against the lab's real servers (tests/lab/mailservers.py):
mail sent and received, an event and a contact stored.

- msmtp: its own SRV discovery (``--configure``), then a message through Postfix that lands
  in the Dovecot mailbox;
- the ``caldav`` library: from the bare address, by SRV/TXT and by our well-known redirect,
  finds the principal, writes an event, and stores a contact in an address book.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from tests.lab.conftest import report
from tests.lab.conftest import require
from tests.lab.lab import Lab
from tests.lab.mailservers import DAV_HOST
from tests.lab.mailservers import PASSWORD
from tests.lab.mailservers import MailServers
from tests.lab.variants import ALIAS
from tests.lab.variants import ALIAS_ADDRESS
from tests.lab.variants import ALIAS_LOGIN
from tests.lab.variants import BY_DOMAIN
from tests.lab.variants import SERVED
from tests.lab.variants import VARIANTS
from tests.lab.variants import Variant
from tests.lab.views import from_msmtp

pytestmark = pytest.mark.lab

#: How long a sent message may take to reach the mailbox (Postfix -> LMTP -> Maildir).
DELIVERY_SECONDS = 30


def wait_for_message(mail: MailServers, address: str, marker: str) -> bytes:
    """The delivered message containing ``marker`` (polls the Maildir, bounded)."""
    deadline = time.monotonic() + DELIVERY_SECONDS
    while time.monotonic() < deadline:
        found = [m for m in mail.messages(address) if marker.encode() in m]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no message {marker} for {address}:\n{mail.logs()}")


@pytest.mark.parametrize("variant", SERVED, ids=[v.domain for v in SERVED])
def test_msmtp_sends_into_the_mailbox(
    lab: Lab, mail: MailServers, variant: Variant, tmp_path: Path
) -> None:
    """msmtp's own discovery (``--configure``: SRV) picks the server our answers put first;
    with that account (plus the password and the lab CA) it submits a message, which
    Postfix takes only after TLS and AUTH and hands to Dovecot: it lands in the Maildir."""
    require({"msmtp": "msmtp"})
    configured = lab.ns.run("msmtp", f"--configure={variant.address}", check=True).stdout
    assert from_msmtp(configured) == variant.outgoing[0]
    settings = [line for line in configured.splitlines() if line and not line.startswith("#")]
    settings = [line for line in settings if not line.startswith(("user ", "password"))]
    # Our answers say the login is the whole address (%EMAILADDRESS%, RFC 6186 section 4).
    settings += [
        f"user {variant.address}",
        f"password {PASSWORD}",
        f"tls_trust_file {lab.ca_pem}",
        f"logfile {tmp_path / 'msmtp.log'}",
    ]
    config = tmp_path / "msmtprc"
    config.write_text("\n".join(settings) + "\n")
    config.chmod(0o600)
    marker = f"lab-{uuid.uuid4().hex}"
    message = (
        f"From: {variant.address}\nTo: {variant.address}\nSubject: {marker}\n\n"
        f"Sent by msmtp through {variant.outgoing[0]}.\n"
    )
    sent = lab.ns.run(
        "msmtp", "-C", str(config), "-a", variant.address, variant.address, input=message
    )
    assert sent.returncode == 0, sent.stderr + mail.logs()
    delivered = wait_for_message(mail, variant.address, marker)
    assert f"Subject: {marker}".encode() in delivered
    report(
        "msmtp",
        _msmtp_version(lab),
        f"{variant.domain} (sent)",
        f"sent via {variant.outgoing[0]}, delivered",
    )


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.domain for v in VARIANTS])
def test_deltachat_configures_and_sends_to_itself(
    deltachat: dict[str, Any], mail: MailServers, variant: Variant
) -> None:
    """Delta Chat's configure logs in to our IMAP and SMTP servers and succeeds; the
    message the account sends to itself is delivered by Postfix into its Dovecot mailbox.
    For the refused domain it gets nothing of ours, guesses, and configure fails."""
    account = deltachat["accounts"][variant.address]
    if not variant.served:
        assert account["outcome"] == "failed", account
        report(
            "Delta Chat",
            deltachat["version"],
            f"{variant.domain} (account)",
            "configure failed (expected)",
        )
        return
    assert account["outcome"] == "configured", account["messages"][-20:]
    sent = account["sent"]
    assert sent["state"] == "OUT_DELIVERED", sent
    assert sent["marker"] in sent["text"] and sent["message_id"], sent
    # Delta Chat encrypts to itself: the header, not the text, identifies the message.
    delivered = wait_for_message(mail, variant.address, f"<{sent['message_id']}>")
    assert sent["encrypted"] and b"-----BEGIN PGP MESSAGE-----" in delivered, delivered[:2000]
    report(
        "Delta Chat",
        deltachat["version"],
        f"{variant.domain} (account)",
        "configured; message to itself delivered",
    )


def test_deltachat_alias_account_logs_in_as_the_primary(
    deltachat: dict[str, Any], mail: MailServers
) -> None:
    """An address at the alias domain: Delta Chat logs in with the primary's login our
    answer gives (alice@lab.test; the alias itself is no mailbox user), and its message to
    itself reaches the primary's mailbox through the alias."""
    account = deltachat["accounts"][ALIAS_ADDRESS]
    assert account["outcome"] == "configured", account["messages"][-20:]
    sent = account["sent"]
    assert sent["state"] == "OUT_DELIVERED", sent
    delivered = wait_for_message(mail, ALIAS_LOGIN, f"<{sent['message_id']}>")
    assert f"To: <{ALIAS_ADDRESS}>".encode() in delivered or ALIAS_ADDRESS.encode() in delivered
    report(
        "Delta Chat",
        deltachat["version"],
        f"{ALIAS} (account)",
        "configured as the primary; message to itself delivered",
    )


def _msmtp_version(lab: Lab) -> str:
    first = lab.ns.run("msmtp", "--version").stdout.splitlines()[0]
    return first.removeprefix("msmtp version ").strip()


DAV = BY_DOMAIN["dav.lab.test"]


def test_caldav_by_srv_writes_an_event(dav_client: dict[str, Any], mail: MailServers) -> None:
    """Started from alice@dav.lab.test alone: _caldavs SRV + TXT give the context path,
    the principal and calendar home are found, an event is written and read back, and
    Radicale stored it."""
    found = dav_client["caldav_srv"]
    report("caldav", dav_client["version"], "dav.lab.test CalDAV (SRV/TXT)", _dav_summary(found))
    assert "error" not in found, found
    assert found["discovered"] == {"url": DAV.dav[0], "source": "srv"}
    assert unquote(found["principal"]) == f"https://{DAV_HOST}/dav/calendars/alice@dav.lab.test/"
    assert found["calendar"].startswith(found["principal"])
    assert found["read_back"] is True
    stored = [p for p in mail.dav_items() if found["uid"] in p.read_text()]
    assert len(stored) == 1 and stored[0].suffix == ".ics", mail.dav_items()


def test_caldav_by_well_known_redirect(dav_client: dict[str, Any]) -> None:
    """Started from https://dav.lab.test/.well-known/caldav: our 307 leads to the same
    principal, where the calendar made through SRV is listed."""
    found = dav_client["caldav_well_known"]
    report(
        "caldav", dav_client["version"], "dav.lab.test CalDAV (.well-known)", _dav_summary(found)
    )
    assert "error" not in found, found
    assert found["discovered"] == {"url": DAV.dav[0], "source": "well-known"}
    assert found["principal"] == dav_client["caldav_srv"]["principal"]
    calendars = [unquote(url) for url in found["calendars"]]
    assert unquote(dav_client["caldav_srv"]["calendar"]) in calendars


def test_carddav_by_srv_stores_a_contact(dav_client: dict[str, Any], mail: MailServers) -> None:
    found = dav_client["carddav_srv"]
    report("caldav", dav_client["version"], "dav.lab.test CardDAV (SRV/TXT)", _dav_summary(found))
    assert "error" not in found, found
    assert found["discovered"] == {"url": DAV.dav[1], "source": "srv"}
    assert (found["mkcol"], found["put"]) == (201, 201)
    assert found["read_back"] is True
    stored = [p for p in mail.dav_items() if found["uid"] in p.read_text()]
    assert len(stored) == 1 and stored[0].suffix == ".vcf", mail.dav_items()


def _dav_summary(found: dict[str, Any]) -> str:
    if "error" in found:
        return f"failed: {found['error']}"
    steps = [f"found {found['discovered']['url']} ({found['discovered']['source']})"]
    steps.append(f"principal {found['principal']}")
    if "event" in found:
        steps.append(f"event written and read back: {found['read_back']}")
    if "calendars" in found:
        steps.append(f"{len(found['calendars'])} calendar(s) listed")
        steps.append(f"DAVClient(url=well-known URL): {found['direct_client_at_well_known']}")
    if "addressbook" in found:
        steps.append(f"address book made ({found['mkcol']}), vCard stored ({found['put']})")
    return "; ".join(steps)


@pytest.mark.parametrize("variant", SERVED, ids=[v.domain for v in SERVED])
def test_thunderbird_creates_the_account_and_fetches_the_inbox(
    thunderbird_accounts: dict[str, Any], mail: MailServers, variant: Variant
) -> None:
    """Thunderbird takes our answer (the https autoconfig document; Exchange Autodiscover
    where there is none), its ConfigVerifier logs in to the first incoming server with the
    address as login, it creates the account, fetches the inbox (the seeded message is
    there), and a message it sends to itself through the outgoing server arrives."""
    found = thunderbird_accounts["accounts"][variant.address]
    steps = ", ".join(found.get("steps", []))
    summary = f"{steps}; {found['error']}" if "error" in found else steps
    report("Thunderbird", thunderbird_accounts["version"], f"{variant.domain} (account)", summary)
    assert "error" not in found, f"{found}\n{mail.logs()}"
    expected = "xml-from-isp-https" if variant.has_autoconfig else "exchange-from-url1"
    assert found["subSource"] == expected
    first = variant.incoming[0]
    assert (found["incoming"]["hostname"], found["incoming"]["port"]) == (first.host, first.port)
    assert found["incoming"]["username"] == variant.address
    assert found["steps"] == ["found", "verified", "created", "fetched", "sent"]
    assert f"Welcome {variant.address}" in found["subjects"]
    out = variant.outgoing[0]
    assert (found["outgoing_server"]["hostname"], found["outgoing_server"]["port"]) == (
        out.host,
        out.port,
    )
    delivered = wait_for_message(mail, variant.address, found["marker"])
    assert f"Subject: {found['marker']}".encode() in delivered
