"""E-mail address and domain parsing (pure: no Flask, no dnspython).

Every domain the service handles passes through here once and comes out as the IDNA 2008
(UTS #46) A-label in lower case without a trailing dot. That single form is used for the
allow-list, the cache key, the DNS queries and the output, so ``Straße.Example.`` and
``xn--strae-oqa.example`` are one domain. Python's built-in ``"idna"`` codec implements
IDNA 2003 (it maps ``ß`` to ``ss``, a different domain) and is never used.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import email_validator
import idna

from autoconf.errors import InvalidAddressError

#: RFC 5321 section 4.5.3.1.1 / 4.5.3.1.2: local part <= 64 octets, domain <= 255 octets.
MAX_LOCAL_OCTETS = 64
MAX_DOMAIN_OCTETS = 255
#: Anything longer cannot be an address; refuse before doing any work on it.
MAX_INPUT_CHARS = 1024
#: Recently parsed inputs kept (per process). Validation (UTS #46 mapping, IDNA 2008 checks)
#: costs more than the rest of a cached answer, and clients repeat themselves: Thunderbird
#: asks several URLs for one address, Outlook re-posts the same address every few hours.
#: Only successful parses are kept; the results are immutable.
MEMO_SIZE = 4096


@dataclass(frozen=True, slots=True, kw_only=True)
class Address:
    """A validated address: local part as given, domain normalised to its A-label."""

    local_part: str
    domain: str

    def __str__(self) -> str:
        return f"{self.local_part}@{self.domain}"

    def with_domain(self, domain: str) -> Address:
        """The same mailbox at another domain (alias -> primary redirects)."""
        return Address(local_part=self.local_part, domain=domain)


@functools.lru_cache(maxsize=MEMO_SIZE)
def parse_domain(text: str) -> str:
    """Return ``text`` as a lower-case IDNA 2008 A-label without a trailing dot.

    :raises InvalidAddressError: empty, too long, or not a valid IDNA 2008 host name.
    """
    candidate = text.strip()
    if candidate.endswith("."):
        candidate = candidate[:-1]
    if not candidate or len(candidate) > MAX_INPUT_CHARS:
        raise InvalidAddressError("empty or over-long domain")
    try:
        # uts46=True applies the UTS #46 mapping (case folding, width mapping) before
        # IDNA 2008 validation, which is what browsers and mail clients do with user input.
        ascii_domain = idna.encode(candidate, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidAddressError(f"invalid domain: {exc}") from exc
    ascii_domain = ascii_domain.lower()
    # idna keeps a trailing dot as the root label, so "a.test.." (or a UTS #46 full stop
    # such as "a.test.\u3002") would come out as "a.test.": one dot is removed, two is an
    # empty label. Found by fuzz/fuzz_address.py.
    if ascii_domain.endswith("."):
        raise InvalidAddressError("empty label in domain")
    if len(ascii_domain) > MAX_DOMAIN_OCTETS or "." not in ascii_domain:
        raise InvalidAddressError("domain must be a dotted name of at most 255 octets")
    return ascii_domain


@functools.lru_cache(maxsize=MEMO_SIZE)
def parse_address(text: str) -> Address:
    """Validate an e-mail address and normalise its domain.

    Surrounding whitespace is trimmed (clients pad POX ``EMailAddress``), a trailing dot on
    the domain is dropped, the local part is kept as given (RFC 5321 section 2.4: it may be
    case-sensitive), quoted and UTF-8 (RFC 6531) local parts are accepted, and domain
    literals (``[192.0.2.1]``) are refused.

    :raises InvalidAddressError: when the text is not a usable address.
    """
    candidate = text.strip()
    if not candidate or len(candidate) > MAX_INPUT_CHARS:
        raise InvalidAddressError("empty or over-long address")
    if candidate.endswith("."):
        candidate = candidate[:-1]
    local, sep, _ = candidate.rpartition("@")
    if not sep or not local:
        raise InvalidAddressError("address needs a local part and a domain")
    try:
        valid = email_validator.validate_email(
            candidate,
            check_deliverability=False,  # never do DNS here: the allow-list comes first
            test_environment=True,  # admit *.test lab domains; the allow-list is the gate
            allow_quoted_local=True,
            allow_domain_literal=False,
            strict=True,
        )
    except email_validator.EmailNotValidError as exc:
        raise InvalidAddressError(str(exc)) from exc
    local_part = valid.local_part
    if len(local_part.encode("utf-8")) > MAX_LOCAL_OCTETS:
        raise InvalidAddressError("local part longer than 64 octets")
    return Address(local_part=local_part, domain=parse_domain(valid.ascii_domain))
