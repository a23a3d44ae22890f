"""The settings snapshot: the last good settings per domain on disk, for a warm start.

A restart (deploy, crash, recycled worker) would otherwise begin with an empty cache, and a
restart during a DNS outage would lose every answer that RFC 8767 lets us keep serving. So
the settings are written to ``settings-snapshot.json`` in the state directory
(``$STATE_DIRECTORY``, which systemd sets for ``StateDirectory=``, else ``[state]
directory``) and read back when a worker starts.

The file is JSON, one entry per line, documented in docs/operations.md (format version 1)::

    {"format":"autoconf-settings-snapshot","version":1,"app_version":"0.1.0",
     "written_at":1764480000.0,"entries":[
    {"kind":"listed","domain":"example.org","fetched_at":1764479990.5,"ttl":3600,
     "dnssec":false,"srv":[["_imaps",0,1,993,"mail.example.org"]],"paths":{}},
    {"kind":"hosted","domain":"customer.example","fetched_at":1764479991.0,"ttl":3600,
     "decision":"mx","mx":[10,"mx.mail.hoster.example"]}
    ]}

A ``listed`` entry holds what DNS said that a listed domain's settings were built from:
the SRV records used (label, priority, weight, port, target), the RFC 6764 context path per
DAV label, the TTL, whether the answer had to be DNSSEC-authenticated to be trusted, and
when it was fetched (wall-clock seconds: a monotonic clock does not survive a restart).
Reading it back goes through :func:`autoconf.discovery.derive` with the *current* profile
and trust policy, exactly like a DNS answer: display names and login templates come from
today's configuration, and a target the trust policy no longer accepts drops the entry.

A ``hosted`` entry (``[hosting]``, :mod:`autoconf.hosting`) holds a domain that a served
decision made: the condition that held (``srv``, ``mx`` or ``cname``) and the records it
rests on - the SRV records (as for a listed domain), or the most preferred MX record, or
the CNAME. Reading it back rebuilds those answers and decides again with
:func:`autoconf.hosting.decide` under *today's* ``[hosting]`` (see
:meth:`autoconf.service.Discoverer.rebuilt`). Negative decisions are never written: a
stranger's name asked once never reaches the disk. The kind needed no new format version:
readers have always skipped kinds they do not know.

The file is untrusted input like DNS itself (docs/security-model.md): it is read only when it is a
regular file of this user that nobody else may write, up to a byte bound, and validated
strictly: a corrupt, truncated, foreign, too old or hostile file (any host name that is not
one, an unknown label, a number out of range) is ignored as a whole, with one warning.

Pure module apart from file I/O: no Flask, no dnspython.
"""

from __future__ import annotations

import json
import logging
import math
import os
import stat
import tempfile
from collections.abc import Container
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import replace
from pathlib import Path
from typing import Any

from autoconf import __version__
from autoconf.cache import CachePolicy
from autoconf.cache import Exported
from autoconf.config import Settings
from autoconf.discovery import SERVICES
from autoconf.discovery import DomainProfile
from autoconf.discovery import TrustPolicy
from autoconf.discovery import derive
from autoconf.errors import SnapshotError
from autoconf.flock import flocked
from autoconf.hosting import SERVICE_LABELS
from autoconf.hosting import HostedProvider
from autoconf.hosting import Kind
from autoconf.hosting import cname_questions
from autoconf.hosting import mx_question
from autoconf.hosting import parse_mx
from autoconf.hosting import parse_target
from autoconf.model import Protocol
from autoconf.model import Provider
from autoconf.model import Question
from autoconf.model import RRset
from autoconf.model import Security
from autoconf.model import SrvRecord
from autoconf.model import Status
from autoconf.names import host_name_problem
from autoconf.names import is_context_path
from autoconf.names import shown
from autoconf.server import STATE_DIRECTORY

log = logging.getLogger(__name__)

FORMAT = "autoconf-settings-snapshot"
VERSION = 1
FILE_NAME = "settings-snapshot.json"
LOCK_NAME = "settings-snapshot.lock"
TEMP_PREFIX = ".settings-snapshot."
#: systemd's variable for ``StateDirectory=`` (several directories are ":"-separated).
STATE_ENV = STATE_DIRECTORY.name
#: Kinds of entries: readers skip kinds they do not know, so a newer writer can add kinds
#: without a new format version (``hosted`` came that way).
LISTED = "listed"
HOSTED = "hosted"
#: Records per entry at most: an entry with more is not written (it would be re-looked-up).
MAX_RECORDS = 64
#: The byte bound: this much per allowed entry (listed and hosted), at least 1 MiB.
ENTRY_BYTES = 2048
MIN_BOUND = 1 << 20
#: Wall clocks of two writers (or before and after a reboot) may disagree this much.
SKEW = 300
#: How long a writer waits for another one to finish.
LOCK_PATIENCE = 5.0

_TOP_KEYS = frozenset({"format", "version", "app_version", "written_at", "entries"})
_ENTRY_KEYS = frozenset({"kind", "domain", "fetched_at", "ttl", "dnssec", "srv", "paths"})
_HOSTED_COMMON = frozenset({"kind", "domain", "fetched_at", "ttl", "decision"})
#: The keys of a hosted entry per decision: what that condition rests on.
_HOSTED_KEYS = {
    Kind.SRV.value: _HOSTED_COMMON | {"srv", "paths"},
    Kind.MX.value: _HOSTED_COMMON | {"mx"},
    Kind.CNAME.value: _HOSTED_COMMON | {"cname"},
}
#: RFC 2181 section 8: a TTL is an unsigned 31-bit number.
_MAX_TTL = (1 << 31) - 1
#: Labels whose servers are ever handed out (never the cleartext DAV ones, RFC 6764 §3).
_SERVICES = {s.label: s for s in SERVICES if s.security is not Security.PLAIN}
_DAV = frozenset(
    s.label for s in _SERVICES.values() if s.protocol in (Protocol.CALDAV, Protocol.CARDDAV)
)


@dataclass(frozen=True, slots=True)
class Record:
    """One SRV record a served setting came from."""

    label: str
    priority: int
    weight: int
    port: int
    target: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One domain's last good settings, as DNS gave them."""

    domain: str
    #: Wall-clock seconds (Unix time) of the lookup.
    fetched_at: float
    ttl: int
    records: tuple[Record, ...]
    #: RFC 6764 section 4 context path per DAV label that has one.
    paths: tuple[tuple[str, str], ...] = ()
    #: A target was trusted on the DNSSEC AD bit alone (``dns.dnssec = true``).
    dnssec: bool = False
    kind: str = LISTED
    #: Hosted entries: the condition that held, "srv", "mx" or "cname".
    decision: str = ""
    #: Hosted by MX: the most preferred MX record, (preference, exchange).
    mx: tuple[int, str] | None = None
    #: Hosted by CNAME: ("autoconfig" or "autodiscover", the provider's name it points to).
    cname: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """A file read and validated."""

    written_at: float
    #: Entries of known kinds (and served domains, when asked): listed ones first, then
    #: hosted ones, each most recently used first; at most ``max_entries`` listed and
    #: ``max_hosted`` hosted.
    entries: tuple[Entry, ...]
    #: Entries skipped: of kinds this version does not know, or of domains not served.
    skipped: int = 0


def state_directory(settings: Settings, environ: Mapping[str, str]) -> Path | None:
    """Where the snapshot lives: ``$STATE_DIRECTORY`` (its first entry) when set, else
    ``[state] directory``; None when neither is set, the snapshot is switched off or there
    is no cache to warm."""
    if not settings.state.snapshot or not settings.cache.enabled:
        return None
    first = environ.get(STATE_ENV, "").split(":")[0].strip()
    return Path(first) if first else settings.state.directory


def byte_bound(policy: CachePolicy, max_hosted: int = 0) -> int:
    """The largest file read or written: :data:`ENTRY_BYTES` per allowed entry, listed
    (``cache.max_entries``) and hosted (``max_hosted``: ``hosting.max_decisions``)."""
    return max(MIN_BOUND, (policy.max_entries + max_hosted) * ENTRY_BYTES)


# --- settings <-> entries ----------------------------------------------------------------


def entry_of(exported: Exported, trust: TrustPolicy, *, now: float) -> Entry | None:
    """The entry for a cached provider of a listed domain (None when it holds servers not
    from a served SRV label, or too many to keep)."""
    provider = exported.provider
    found = _records(provider, trust)
    if found is None:
        return None
    records, paths, dnssec = found
    return Entry(
        domain=exported.domain,
        fetched_at=round(now - exported.age, 3),
        ttl=provider.ttl,
        records=records,
        paths=paths,
        dnssec=dnssec,
    )


def hosted_entry_of(exported: Exported, *, now: float) -> Entry | None:
    """The entry for a cached hosted decision (:class:`autoconf.hosting.HostedProvider`);
    None for a decision that does not serve the domain (never written), or one that cannot
    be kept."""
    provider = exported.provider
    if not isinstance(provider, HostedProvider) or not provider.decision.served:
        return None
    decision = provider.decision
    entry = Entry(
        kind=HOSTED,
        domain=exported.domain,
        fetched_at=round(now - exported.age, 3),
        ttl=provider.ttl,
        records=(),
        decision=decision.kind.value,
    )
    if decision.kind is Kind.SRV:
        # Every target lies under mail_hosts, which hosting trusts: no AD bit involved.
        found = _records(provider, TrustPolicy())
        if found is None or not found[0]:
            return None
        return replace(entry, records=found[0], paths=found[1])
    owner, rdtype, rdata = [*decision.decided_by.split(" ", 2), "", ""][:3]
    if decision.kind is Kind.MX and (owner, rdtype) == ("@", "MX"):
        mx = parse_mx(rdata)
        if mx is None or not mx.exchange:
            return None
        return replace(entry, mx=(mx.preference, mx.exchange))
    if decision.kind is Kind.CNAME and owner in SERVICE_LABELS and rdtype == "CNAME":
        return replace(entry, cname=(owner, parse_target(rdata)))
    return None


def _records(
    provider: Provider, trust: TrustPolicy
) -> tuple[tuple[Record, ...], tuple[tuple[str, str], ...], bool] | None:
    """The SRV records, DAV paths and DNSSEC flag of ``provider``'s servers; None when it
    holds servers not from a served SRV label, or too many to keep."""
    records: list[Record] = []
    paths: dict[str, str] = {}
    dnssec = False
    for servers in provider.servers.values():
        for server in servers:
            service = _SERVICES.get(server.label)
            if service is None or service.protocol is not server.protocol:
                return None
            records.append(
                Record(server.label, server.priority, server.weight, server.port, server.host)
            )
            if server.path:
                paths[server.label] = server.path
            # A target neither in the domain nor under a trusted suffix was accepted on the
            # AD bit; the reader trusts it again only while dns.dnssec is on.
            dnssec = dnssec or bool(
                trust.refusal(server.host, provider.domain, authenticated=False)
            )
    if len(records) > MAX_RECORDS:
        return None
    return tuple(records), tuple(sorted(paths.items())), dnssec


def provider_of(entry: Entry, profile: DomainProfile, trust: TrustPolicy) -> Provider | None:
    """The settings a listed entry gives under today's profile and trust policy, derived
    like a DNS answer; None when the trust policy refuses one of its targets."""
    provider = derive(entry.domain, _srv_answers(entry), profile, trust)
    if sum(len(servers) for servers in provider.servers.values()) != len(entry.records):
        return None
    return provider


def hosted_answers(entry: Entry) -> dict[Question, RRset]:
    """The answers to :func:`autoconf.hosting.questions` that a hosted entry keeps, for
    :func:`autoconf.hosting.decide`: its SRV records, or its MX, or its CNAME; every other
    question absent (NODATA), all with the entry's TTL."""
    domain = entry.domain
    answers = _srv_answers(entry)
    mx = (f"{entry.mx[0]} {entry.mx[1]}.",) if entry.mx else ()
    answers[mx_question(domain)] = _answer(mx_question(domain), entry.ttl, mx)
    for question in cname_questions(domain):
        held = entry.cname is not None and question[0] == f"{entry.cname[0]}.{domain}."
        target = (f"{entry.cname[1]}.",) if held and entry.cname else ()
        answers[question] = _answer(question, entry.ttl, target)
    return answers


def _answer(question: Question, ttl: int, rdata: tuple[str, ...]) -> RRset:
    """An answer of ``rdata`` records, or NODATA when there are none."""
    status = Status.ANSWER if rdata else Status.NODATA
    return RRset(name=question[0], rdtype=question[1], status=status, ttl=ttl, rdata=rdata)


def _srv_answers(entry: Entry) -> dict[Question, RRset]:
    """The SRV and TXT answers an entry's records and paths stand for."""
    domain = entry.domain
    answers: dict[Question, RRset] = {}
    by_label: dict[str, list[SrvRecord]] = {}
    for record in entry.records:
        by_label.setdefault(record.label, []).append(
            SrvRecord(
                priority=record.priority,
                weight=record.weight,
                port=record.port,
                target=record.target,
            )
        )
    for label, srv in by_label.items():
        name = _SERVICES[label].qname(domain)
        answers[(name, "SRV")] = RRset(
            name=name,
            rdtype="SRV",
            status=Status.ANSWER,
            ttl=entry.ttl,
            srv=tuple(srv),
            authenticated=entry.dnssec,
        )
    for label, path in entry.paths:
        name = _SERVICES[label].qname(domain)
        answers[(name, "TXT")] = RRset(
            name=name,
            rdtype="TXT",
            status=Status.ANSWER,
            ttl=entry.ttl,
            txt=(f"path={path}",),
            authenticated=entry.dnssec,
        )
    if not by_label:
        # A negative answer: one absent record carries its TTL (RFC 2308 section 5).
        name = _SERVICES["_submissions"].qname(domain)
        answers[(name, "SRV")] = RRset(name=name, rdtype="SRV", status=Status.NODATA, ttl=entry.ttl)
    return answers


# --- encoding and strict decoding --------------------------------------------------------


def encode(entries: Iterable[Entry], *, written_at: float) -> bytes:
    """The file's bytes: a header and one entry per line (valid JSON, easy to read)."""
    head = json.dumps(
        {
            "format": FORMAT,
            "version": VERSION,
            "app_version": __version__,
            "written_at": round(written_at, 3),
        },
        separators=(",", ":"),
    )
    lines = [_entry_json(entry) for entry in entries]
    return (head[:-1] + ',"entries":[\n' + ",\n".join(lines) + "\n]}\n").encode("ascii")


def _entry_json(entry: Entry) -> str:
    fields: dict[str, Any] = {
        "kind": entry.kind,
        "domain": entry.domain,
        "fetched_at": entry.fetched_at,
        "ttl": entry.ttl,
    }
    if entry.kind == HOSTED:
        fields["decision"] = entry.decision
    else:
        fields["dnssec"] = entry.dnssec
    if entry.mx is not None:
        fields["mx"] = list(entry.mx)
    elif entry.cname is not None:
        fields["cname"] = list(entry.cname)
    else:
        fields["srv"] = [[r.label, r.priority, r.weight, r.port, r.target] for r in entry.records]
        fields["paths"] = dict(entry.paths)
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=True)


def decode(
    data: bytes,
    *,
    now: float,
    policy: CachePolicy,
    served: Container[str] | None = None,
    max_hosted: int = 0,
    hosted: bool = True,
) -> Snapshot:
    """Validate the file's bytes strictly: at most ``policy.max_entries`` listed and
    ``max_hosted`` hosted entries are read (the first ones: most recently used first).

    With ``served`` (the listed domains of a worker), listed entries of other domains are
    skipped unexamined (they are never used), the domains of the others, being configured
    ones, are not checked again, and hosted entries of served domains are skipped (the
    listed settings win). With ``hosted`` False (``[hosting]`` off), hosted entries are
    skipped unexamined. A writer merging the file passes neither, so it checks everything
    it keeps.

    :raises SnapshotError: naming the first problem; nothing of the file is used then.
    """
    try:
        top = json.loads(data, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise SnapshotError(f"not valid JSON (corrupt or truncated): {_short(exc)}") from None
    if not isinstance(top, dict) or top.get("format") != FORMAT:
        raise SnapshotError("not an autoconf settings snapshot (foreign file)")
    if top.get("version") != VERSION or isinstance(top.get("version"), bool):
        raise SnapshotError(
            f"format version {_shown_value(top.get('version'))}; this service reads {VERSION}"
        )
    if set(top) != _TOP_KEYS:
        raise SnapshotError(f"unexpected keys {sorted(set(top) ^ _TOP_KEYS)}")
    if not isinstance(top["app_version"], str) or len(top["app_version"]) > 64:
        raise SnapshotError("app_version: not a short string")
    written_at = _time(top["written_at"], "written_at")
    if written_at > now + SKEW:
        raise SnapshotError(f"written {written_at - now:.0f} s in the future")
    oldest = policy.cap + policy.stale_if_error
    if now - written_at > oldest:
        raise SnapshotError(
            f"too old: written {now - written_at:.0f} s ago, nothing in it may be served "
            f"any more (cache.cap + cache.stale_if_error = {oldest} s)"
        )
    raw_entries = top["entries"]
    if not isinstance(raw_entries, list):
        raise SnapshotError("entries: not a list")
    entries: list[Entry] = []
    seen: set[str] = set()
    skipped = 0
    room = {LISTED: policy.max_entries, HOSTED: max_hosted if hosted else 0}
    for index, raw in enumerate(raw_entries):
        if not any(room.values()):
            break
        where = f"entries[{index}]"
        if not isinstance(raw, dict):
            raise SnapshotError(f"{where}: not an object")
        kind = raw.get("kind")
        if not isinstance(kind, str) or len(kind) > 32:
            raise SnapshotError(f"{where}.kind: not a short string")
        if kind == HOSTED and not hosted:
            skipped += 1
            continue
        if room.get(kind, 1) == 0:
            continue  # beyond the bound of its kind: never used, not examined
        entry = _entry(raw, kind, where, written_at, served)
        if entry is None:
            skipped += 1
            continue
        if entry.domain in seen:
            raise SnapshotError(f"{where}: {entry.domain} appears twice")
        seen.add(entry.domain)
        room[kind] -= 1
        entries.append(entry)
    return Snapshot(written_at=written_at, entries=tuple(entries), skipped=skipped)


def _entry(
    raw: dict[str, Any], kind: str, where: str, written_at: float, served: Container[str] | None
) -> Entry | None:
    if kind == HOSTED:
        domain = raw.get("domain")
        if served is not None and isinstance(domain, str) and domain in served:
            return None
        return _hosted(raw, where, written_at)
    if kind != LISTED:
        return None
    domain = raw.get("domain")
    if served is not None and isinstance(domain, str) and domain not in served:
        return None
    if set(raw) != _ENTRY_KEYS:
        raise SnapshotError(f"{where}: unexpected keys {sorted(set(raw) ^ _ENTRY_KEYS)}")
    if served is None or not isinstance(domain, str):
        domain = _host(domain, f"{where}.domain")
    fetched_at = _fetched_at(raw, where, written_at)
    ttl = _int(raw["ttl"], f"{where}.ttl", 0, _MAX_TTL)
    if not isinstance(raw["dnssec"], bool):
        raise SnapshotError(f"{where}.dnssec: not true or false")
    records, paths = _records_and_paths(raw, where)
    return Entry(
        domain=domain,
        fetched_at=fetched_at,
        ttl=ttl,
        records=records,
        paths=paths,
        dnssec=raw["dnssec"],
    )


def _hosted(raw: dict[str, Any], where: str, written_at: float) -> Entry:
    """A hosted entry, checked like a listed one; every name in it passes the checks every
    name from DNS passes (the domain, the MX exchange, the CNAME target)."""
    decision = raw.get("decision")
    keys = _HOSTED_KEYS.get(decision) if isinstance(decision, str) else None
    if decision is None or keys is None:
        raise SnapshotError(f"{where}.decision: {_shown_value(decision)} is not srv, mx or cname")
    if set(raw) != keys:
        raise SnapshotError(f"{where}: unexpected keys {sorted(set(raw) ^ keys)}")
    entry = Entry(
        kind=HOSTED,
        domain=_host(raw["domain"], f"{where}.domain"),
        fetched_at=_fetched_at(raw, where, written_at),
        ttl=_int(raw["ttl"], f"{where}.ttl", 0, _MAX_TTL),
        records=(),
        decision=decision,
    )
    if decision == Kind.SRV.value:
        records, paths = _records_and_paths(raw, where)
        if not records:
            raise SnapshotError(f"{where}.srv: hosted by SRV without SRV records")
        return replace(entry, records=records, paths=paths)
    pair = raw[decision]
    if not isinstance(pair, list) or len(pair) != 2:
        raise SnapshotError(f"{where}.{decision}: not a pair")
    if decision == Kind.MX.value:
        preference = _int(pair[0], f"{where}.mx preference", 0, 65535)
        return replace(entry, mx=(preference, _host(pair[1], f"{where}.mx exchange")))
    if pair[0] not in SERVICE_LABELS:
        label = _shown_value(pair[0])
        raise SnapshotError(f"{where}.cname: {label} is not autoconfig or autodiscover")
    return replace(entry, cname=(pair[0], _host(pair[1], f"{where}.cname target")))


def _fetched_at(raw: dict[str, Any], where: str, written_at: float) -> float:
    fetched_at = _time(raw["fetched_at"], f"{where}.fetched_at")
    if fetched_at > written_at + 1:
        raise SnapshotError(f"{where}.fetched_at: after the file was written")
    return fetched_at


def _records_and_paths(
    raw: dict[str, Any], where: str
) -> tuple[tuple[Record, ...], tuple[tuple[str, str], ...]]:
    srv = raw["srv"]
    if not isinstance(srv, list) or len(srv) > MAX_RECORDS:
        raise SnapshotError(f"{where}.srv: not a list of at most {MAX_RECORDS} records")
    records = tuple(_record(r, f"{where}.srv[{n}]") for n, r in enumerate(srv))
    paths = raw["paths"]
    if not isinstance(paths, dict) or len(paths) > len(_DAV):
        raise SnapshotError(f"{where}.paths: not an object of DAV context paths")
    labels = {r.label for r in records}
    for label, path in paths.items():
        if label not in _DAV or label not in labels:
            raise SnapshotError(f"{where}.paths: {shown(label)!r} is not a DAV label of the entry")
        if not isinstance(path, str) or not is_context_path(path):
            raise SnapshotError(f"{where}.paths.{label}: not an absolute URL path")
    return records, tuple(sorted(paths.items()))


def _record(raw: Any, where: str) -> Record:
    if not isinstance(raw, list) or len(raw) != 5:
        raise SnapshotError(f"{where}: not [label, priority, weight, port, target]")
    label, priority, weight, port, target = raw
    if not isinstance(label, str) or label not in _SERVICES:
        raise SnapshotError(f"{where}: {_shown_value(label)} is not a served SRV label")
    return Record(
        label,
        _int(priority, f"{where} priority", 0, 65535),
        _int(weight, f"{where} weight", 0, 65535),
        _int(port, f"{where} port", 1, 65535),
        _host(target, f"{where} target"),
    )


def _host(value: Any, where: str) -> str:
    """A host name by the checks every SRV target from DNS passes (autoconf.names)."""
    if not isinstance(value, str):
        raise SnapshotError(f"{where}: not a string")
    problem = host_name_problem(value)
    if problem:
        raise SnapshotError(f"{where}: {shown(value[:80])!r} is not a host name: {problem}")
    return value


def _int(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SnapshotError(f"{where}: not an integer in [{low}, {high}]")
    return value


def _time(value: Any, where: str) -> float:
    # 1e999 parses as infinity: not a time either.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SnapshotError(f"{where}: not a number of seconds")
    if not (math.isfinite(value) and value > 0):
        raise SnapshotError(f"{where}: not a positive finite number of seconds")
    return float(value)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _shown_value(value: Any) -> str:
    return shown(repr(value)[:40])


def _short(exc: BaseException) -> str:
    return shown(str(exc)[:120])


# --- files -------------------------------------------------------------------------------


def read(
    path: Path,
    *,
    now: float,
    policy: CachePolicy,
    served: Container[str] | None = None,
    max_hosted: int = 0,
    hosted: bool = True,
) -> Snapshot:
    """Read and validate the snapshot at ``path`` (the keywords: see :func:`decode`).

    Only a regular file owned by this user and writable by nobody else is read (a
    symbolic link is not followed), and at most :func:`byte_bound` bytes of it.

    :raises FileNotFoundError: there is no snapshot (yet).
    :raises SnapshotError: it is unusable (the reason says why).
    """
    bound = byte_bound(policy, max_hosted)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise SnapshotError(f"cannot open: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        _check_file(info, bound)
        data = file.read(bound + 1)
    if len(data) > bound:
        raise SnapshotError(f"larger than {bound} bytes")
    return decode(data, now=now, policy=policy, served=served, max_hosted=max_hosted, hosted=hosted)


def _check_file(info: os.stat_result, bound: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise SnapshotError("not a regular file")
    if info.st_uid != os.geteuid():
        raise SnapshotError(f"owned by uid {info.st_uid}, not by this service")
    if info.st_mode & 0o022:
        raise SnapshotError(f"writable by others (mode {stat.S_IMODE(info.st_mode):04o})")
    if info.st_size > bound:
        raise SnapshotError(f"{info.st_size} bytes, more than the bound of {bound}")


def identity(path: Path) -> tuple[int, int, int] | None:
    """What tells one version of the file from another (inode, mtime, size); None when
    there is no file. Every write replaces the file, so the inode changes."""
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size)


class SnapshotFile:
    """Writes the snapshot of one state directory: under a lock, merged with what other
    writers (the other workers, another service sharing the directory) put there,
    atomically replaced.

    Readers need no lock: the file is always either the old or the new complete version
    (temporary file in the same directory, fsync, ``os.replace``).
    """

    def __init__(self, directory: Path, policy: CachePolicy, *, max_hosted: int = 0) -> None:
        self.directory = directory
        self.path = directory / FILE_NAME
        self.policy = policy
        #: Hosted entries kept at most (``hosting.max_decisions``).
        self.max_hosted = max_hosted
        #: The file as we last wrote it; when it is still that, nobody else wrote.
        self._ours: tuple[int, int, int] | None = None
        #: Entries of other writers that the last write kept.
        self._foreign: dict[str, Entry] = {}
        #: Entries the last write read from a file someone else had written since our
        #: write before (empty when nobody had): the keeper seeds the newer ones.
        self.read_back: tuple[Entry, ...] = ()

    def write(
        self, entries: Iterable[Entry], *, now: float, withdrawn: Mapping[str, float] | None = None
    ) -> int:
        """Write ``entries`` (most recently used first) merged with the file's others.

        Per domain the newest entry wins. ``withdrawn`` names hosted domains this writer
        has since decided not to serve, with the (wall-clock) time it did: another
        writer's older hosted entry of one of them is dropped, so a domain that left the
        hoster is not served from the snapshot after a restart.

        Listed entries come first, then hosted ones (each: ours, most recently used first,
        then the others', newest first), so when the byte bound cuts, it cuts hosted ones.

        :returns: bytes written; 0 when another writer held the lock for too long.
        :raises OSError: the directory or file cannot be written.
        """
        self.read_back = ()
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        withdrawn = withdrawn or {}
        with flocked(self.directory / LOCK_NAME, patience=LOCK_PATIENCE) as acquired:
            if not acquired:
                return 0
            mine = {entry.domain: entry for entry in entries}
            foreign = self._others(now)
            kept_foreign: dict[str, Entry] = {}
            for entry in sorted(foreign.values(), key=lambda e: e.fetched_at, reverse=True):
                held = mine.get(entry.domain)
                if entry.kind == HOSTED and withdrawn.get(entry.domain, 0.0) > entry.fetched_at:
                    continue
                if held is None or entry.fetched_at > held.fetched_at:
                    kept_foreign[entry.domain] = entry
            merged = [e for e in mine.values() if e.domain not in kept_foreign]
            merged += kept_foreign.values()
            # sorted() is stable: within a kind the order above stays.
            merged.sort(key=lambda e: e.kind != LISTED)
            data = self._bounded(merged, now)
            self._remove_leftovers()
            self._replace(data)
            self._ours = identity(self.path)
            self._foreign = kept_foreign
            return len(data)

    def _others(self, now: float) -> dict[str, Entry]:
        """Entries another writer may have put in the file since our last write."""
        current = identity(self.path)
        if current is None:
            return {}
        if current == self._ours:
            return self._foreign
        try:
            theirs = read(self.path, now=now, policy=self.policy, max_hosted=self.max_hosted)
        except (SnapshotError, OSError) as exc:
            reason = exc.detail if isinstance(exc, SnapshotError) else exc.strerror
            log.warning("settings snapshot %s was unusable (%s): replacing it", self.path, reason)
            return {}
        oldest = now - self.policy.cap - self.policy.stale_if_error
        self.read_back = tuple(e for e in theirs.entries if e.fetched_at > oldest)
        return {e.domain: e for e in self.read_back}

    def _bounded(self, entries: list[Entry], now: float) -> bytes:
        """Encode at most ``max_entries`` listed and ``max_hosted`` hosted entries and
        :func:`byte_bound` bytes, in the order given."""
        bound = byte_bound(self.policy, self.max_hosted) - 512  # room for the header
        room = {LISTED: self.policy.max_entries, HOSTED: self.max_hosted}
        kept, size = [], 0
        for entry in entries:
            if room.get(entry.kind, 0) <= 0:
                continue
            size += len(_entry_json(entry)) + 2
            if size > bound:
                break
            room[entry.kind] -= 1
            kept.append(entry)
        return encode(kept, written_at=now)

    def _remove_leftovers(self) -> None:
        """Temporary files of writers that died mid-write (we hold the lock: nobody is
        writing one now)."""
        for leftover in self.directory.glob(f"{TEMP_PREFIX}*.tmp"):
            leftover.unlink(missing_ok=True)

    def _replace(self, data: bytes) -> None:
        fd, temporary = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        # The rename itself must reach the disk before we rely on it.
        directory = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
