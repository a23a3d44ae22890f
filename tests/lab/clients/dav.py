"""A real CalDAV/CardDAV client (PyPI ``caldav``) starting from the bare address.

Run inside the lab's namespace (it resolves through the lab's validating resolver):

    python -m tests.lab.clients.dav CA_PEM ADDRESS PASSWORD

1. CalDAV by RFC 6764 SRV/TXT: ``DAVClient`` given only the address discovers
   ``_caldavs._tcp`` + TXT ``path=`` itself (caldav.discovery), finds the principal and its
   calendar home, creates a calendar and writes an event, then reads it back.
2. CalDAV by the well-known URL: a client given ``https://<domain>/.well-known/caldav``
   follows our 307 and finds the same principal and the calendar made in step 1.
3. CardDAV by SRV/TXT: ``discover_carddav`` finds the context path; the client finds the
   address book home (RFC 6352 §7.1.1), creates an address book and stores a vCard.

Prints one JSON object on stdout.
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

import caldav
from caldav.discovery import discover_caldav
from caldav.discovery import discover_carddav
from caldav.elements import dav

EVENT = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//autoconf lab//caldav//EN
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20260101T090000Z
DTSTART:20260105T090000Z
DTEND:20260105T100000Z
SUMMARY:Lab event {uid}
END:VEVENT
END:VCALENDAR
"""

VCARD = """BEGIN:VCARD
VERSION:3.0
UID:{uid}
FN:Lab contact {uid}
EMAIL:bob@lab.test
END:VCARD
"""

ADDRESSBOOK_HOME = """<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">
  <d:prop><card:addressbook-home-set/></d:prop>
</d:propfind>
"""

MKCOL_ADDRESSBOOK = """<?xml version="1.0" encoding="utf-8"?>
<d:mkcol xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">
  <d:set><d:prop>
    <d:resourcetype><d:collection/><card:addressbook/></d:resourcetype>
    <d:displayname>Lab contacts</d:displayname>
  </d:prop></d:set>
</d:mkcol>
"""


def caldav_by_srv(ca: str, address: str, password: str) -> dict[str, Any]:
    found = discover_caldav(address)
    client = caldav.DAVClient(username=address, password=password, ssl_verify_cert=ca)
    principal = client.principal()
    calendar = principal.make_calendar(name="Lab calendar", cal_id=f"lab-{uuid.uuid4().hex[:8]}")
    uid = uuid.uuid4().hex
    event = calendar.save_event(EVENT.format(uid=uid))
    again = calendar.event_by_uid(uid)
    return {
        "discovered": {"url": found.url, "source": found.source} if found else None,
        "client_url": str(client.url),
        "principal": str(principal.url),
        "calendar_home": str(principal.calendar_home_set.url),
        "calendar": str(calendar.url),
        "event": str(event.url),
        "uid": uid,
        "read_back": uid in str(again.data),
    }


def caldav_by_well_known(ca: str, address: str, password: str) -> dict[str, Any]:
    """RFC 6764 §5 for a client that does not read SRV: the library's own well-known step
    (``caldav.discovery._well_known_lookup``, what ``discover_caldav`` falls back to), then
    the client at the URL it found.

    Also recorded: the library's public ``DAVClient(url=<well-known URL>)``, which in 3.6
    ends in 401 when the redirect leaves the host (its credentials do not carry across);
    RFC 6764 §5 has the client follow the redirect first, as the discovery step does.
    """
    from caldav.discovery import _well_known_lookup

    domain = address.rpartition("@")[2]
    start = f"https://{domain}/.well-known/caldav"
    found = _well_known_lookup(domain, "caldav", timeout=10, ssl_verify_cert=ca)  # type: ignore[arg-type]
    assert found is not None, "no redirect from the well-known URL"
    client = caldav.DAVClient(
        url=found.url, username=address, password=password, ssl_verify_cert=ca
    )
    principal = client.principal()
    direct: str
    try:
        caldav.DAVClient(
            url=start, username=address, password=password, ssl_verify_cert=ca
        ).principal()
        direct = "ok"
    except Exception as error:
        direct = f"{type(error).__name__}: {error}"
    return {
        "start": start,
        "discovered": {"url": found.url, "source": found.source},
        "principal": str(principal.url),
        "calendars": sorted(str(c.url) for c in principal.calendars()),
        "direct_client_at_well_known": direct,
    }


def carddav_by_srv(ca: str, address: str, password: str) -> dict[str, Any]:
    found = discover_carddav(address)
    assert found is not None, "no CardDAV service discovered"
    client = caldav.DAVClient(
        url=found.url, username=address, password=password, ssl_verify_cert=ca
    )
    principal = client.principal()
    props = client.propfind(str(principal.url), ADDRESSBOOK_HOME, depth=0)
    home = _href(props.raw)
    home_url = str(principal.url.join(home))
    book = f"{home_url.rstrip('/')}/lab-{uuid.uuid4().hex[:8]}/"
    made = client.mkcol(book, MKCOL_ADDRESSBOOK)
    uid = uuid.uuid4().hex
    card = f"{book}{uid}.vcf"
    put = client.put(card, VCARD.format(uid=uid), {"Content-Type": "text/vcard; charset=utf-8"})
    got = client.request(card, "GET")
    return {
        "discovered": {"url": found.url, "source": found.source},
        "principal": str(principal.url),
        "addressbook_home": home_url,
        "addressbook": book,
        "mkcol": made.status,
        "put": put.status,
        "uid": uid,
        "read_back": uid in (got.raw if isinstance(got.raw, str) else got.raw.decode()),
    }


def _href(multistatus: Any) -> str:
    """The href inside addressbook-home-set of a PROPFIND answer."""
    from lxml import etree

    text = multistatus if isinstance(multistatus, bytes) else multistatus.encode()
    tree = etree.fromstring(text)
    found = tree.find(".//{urn:ietf:params:xml:ns:carddav}addressbook-home-set/{DAV:}href")
    assert found is not None and found.text, text[:500]
    return str(found.text)


def main() -> None:
    ca, address, password = sys.argv[1:]
    results: dict[str, Any] = {"version": caldav.__version__, "dav_element": dav.__name__}
    for name, step in (
        ("caldav_srv", caldav_by_srv),
        ("caldav_well_known", caldav_by_well_known),
        ("carddav_srv", carddav_by_srv),
    ):
        try:
            results[name] = step(ca, address, password)
        except Exception as error:  # one step's failure is reported, the next still runs
            results[name] = {"error": f"{type(error).__name__}: {error}"}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
