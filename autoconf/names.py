"""Host names and URL paths taken from DNS, checked before they reach a URL or a document.

Pure module: no Flask, no dnspython. Every SRV target and TXT ``path=`` value is written by
whoever controls (or spoofs) the domain's DNS. A DNS label may hold any octet, so a target
such as ``evil.org/.victim.test`` is a name *inside* ``victim.test`` whose text, put into
``https://{host}/``, names a URL at ``evil.org``. So targets are admitted only as host names
(LDH labels, RFC 1123 section 2.1; A-labels valid under IDNA 2008, RFC 5890) and compared
as DNS names, label by label, never as strings.

Targets arrive in DNS presentation form (the record source escapes odd octets as ``\\DDD``
or ``\\.``), so the backslash of any escape already fails the LDH test here.
"""

from __future__ import annotations

import functools
import re

import idna

#: RFC 1035 section 2.3.4: 255 octets on the wire, i.e. 253 characters in presentation
#: form without the final dot.
MAX_HOST_NAME_CHARS = 253
MAX_LABEL_OCTETS = 63
#: RFC 1123 section 2.1 (RFC 952 as relaxed): letters, digits and hyphens.
_LDH = re.compile(r"[A-Za-z0-9-]+")
#: WHATWG URL Standard, "ends in a number checker": a host whose last label is decimal
#: digits or 0x-hex is parsed as an IPv4 address by browsers and most URL libraries.
_NUMERIC = re.compile(r"[0-9]+|0[xX][0-9A-Fa-f]*")
#: Host-name verdicts recently computed. Targets repeat (IMAP and SMTP share a host,
#: hosted domains share their hoster's), and the A-label check decodes Punycode.
MEMO_SIZE = 4096


@functools.lru_cache(maxsize=MEMO_SIZE)
def host_name_problem(name: str) -> str:
    """Why ``name`` (no trailing dot) is not a host name; "" when it is one."""
    if not name:
        return "empty name"
    if len(name) > MAX_HOST_NAME_CHARS:
        return f"longer than {MAX_HOST_NAME_CHARS} characters (RFC 1035 §2.3.4)"
    labels = name.split(".")
    for label in labels:
        problem = _label_problem(label)
        if problem:
            return problem
    if _NUMERIC.fullmatch(labels[-1]):
        return (
            f"the last label '{labels[-1]}' is numeric: URLs would read the name as an IPv4 "
            "address (RFC 3696 §2)"
        )
    return ""


def _label_problem(label: str) -> str:
    if not label:
        return "empty label"
    if not _LDH.fullmatch(label):
        bad = next(c for c in label if not (c.isascii() and (c.isalnum() or c == "-")))
        what = "an escaped octet" if bad == "\\" else f"'{shown(bad)}'"
        return f"label '{shown(label)}' holds {what}: only letters, digits and '-' (RFC 1123 §2.1)"
    if len(label) > MAX_LABEL_OCTETS:
        return f"label longer than {MAX_LABEL_OCTETS} octets (RFC 1035 §2.3.4)"
    if label.startswith("-") or label.endswith("-"):
        return f"label '{shown(label)}' starts or ends with '-' (RFC 1123 §2.1)"
    if label[2:4] == "--":
        if label[:4].lower() != "xn--":
            return f"label '{label}': '--' in 3rd and 4th position is reserved (RFC 5891 §4.2.3.1)"
        if not _is_a_label(label):
            return f"label '{label}' is not a valid IDNA 2008 A-label (RFC 5890 §2.3.2.1)"
    return ""


def _is_a_label(label: str) -> bool:
    """RFC 5891 section 5.4: an A-label must decode to a valid U-label that encodes back
    to the same A-label (no "fake A-labels")."""
    try:
        return idna.encode(idna.decode(label)).decode("ascii") == label.lower()
    except (idna.IDNAError, UnicodeError):
        return False


def shown(text: str) -> str:
    """``text`` safe to print in a report or a terminal: printable ASCII stays, anything
    else becomes ``\\DDD`` (its code point), as in DNS presentation form. The record source
    already escapes this way; this holds for any other source too."""
    return "".join(c if " " <= c <= "~" else f"\\{ord(c):03d}" for c in text)


def is_host_name(name: str) -> bool:
    """Whether ``name`` is a host name usable in a URL and a client's settings."""
    return not host_name_problem(name)


def is_subdomain(name: str, suffix: str) -> bool:
    """``name`` equals ``suffix`` or lies below it, compared as DNS names: whole labels,
    ASCII case-insensitively (RFC 4343), like dnspython's ``Name.is_subdomain``. False
    unless both are host names, so no text trick can pass for a sub-domain."""
    if not (is_host_name(name) and is_host_name(suffix)):
        return False
    labels = name.lower().split(".")
    tail = suffix.lower().split(".")
    return len(labels) >= len(tail) and labels[len(labels) - len(tail) :] == tail


#: RFC 3986 section 3.3 "path-absolute" characters (pchar and "/"). TXT data is arbitrary
#: bytes; anything else (spaces, quotes, CR/LF, "?", "#") could break a Location header or
#: change the URL's meaning, so such a path is ignored (and linted).
_CONTEXT_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*")
MAX_CONTEXT_PATH = 256


def is_context_path(value: str) -> bool:
    """Whether ``value`` is a usable RFC 6764 context path (an absolute URL path)."""
    return len(value) <= MAX_CONTEXT_PATH and _CONTEXT_PATH.fullmatch(value) is not None
