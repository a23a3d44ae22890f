"""What `mail-autoconf zone` prints, published as a zone file and read back as clients would."""

from __future__ import annotations

from pathlib import Path

from autoconf.discovery import DomainProfile
from autoconf.discovery import TrustPolicy
from autoconf.discovery import derive
from autoconf.discovery import questions
from autoconf.dns_source import ZoneSource
from autoconf.model import Provider


def provider_from_records(workdir: Path, domain: str, records: str) -> Provider:
    """Put ``records`` under an SOA and NS in a zone file for ``domain`` and derive from it."""
    zone_file = workdir / f"{domain}.zone"
    zone_file.write_text(
        f"$ORIGIN {domain}.\n@ 3600 SOA ns.{domain}. h.{domain}. 1 3600 600 86400 60\n"
        f"@ 3600 NS ns.{domain}.\n{records}\n"
    )
    answers = ZoneSource([zone_file]).ask(questions(domain))
    return derive(domain, answers, DomainProfile(display_name="x"), TrustPolicy())
