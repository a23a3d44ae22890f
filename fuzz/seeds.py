"""Write the seed corpus: real client bodies and every known-hostile shape.

    python fuzz/seeds.py

Seeds are named after what they are; inputs the fuzzer adds later are named by hash.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).parent / "corpus"

ADDRESSES = {
    "plain": "alice@example.test",
    "padded": "  alice@example.test \n",
    "trailing-dot": "alice@Example.TEST.",
    "ampersand": "a&b@example.test",
    "quoted-markup": '"a<b>c"@example.test',
    "quoted-escapes": '"quoted \\" and \' marks"@example.test',
    "apostrophe": "o'hara@example.test",
    "utf8-local": "jörg@example.test",
    "cjk-local": "用户@example.test",
    "idn-domain": "alice@straße.example.test",
    "a-label": "alice@xn--strae-oqa.example.test",
    "longest-local": "x" * 64 + "@example.test",
    "too-long-local": "x" * 65 + "@example.test",
    "domain-literal": "alice@[127.0.0.1]",
    "no-at": "alice",
    "two-ats": "a@b@example.test",
    "evolution": "EVOLUTIONUSER@example.test",
    "label-too-long": "a@" + "x" * 64 + ".test",
    "crlf": "alice@example.test\r\nX: y",
    "nul": "alice\x00@example.test",
    "fullwidth": "alice@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.test",
    "only-domain": "example.test",
}


def pox_seeds() -> dict[str, bytes]:
    """Client bodies from tests/pox.py plus the hostile cases of the POX tests."""
    sys.path.insert(0, str(ROOT))
    from tests import pox
    from tests.test_autodiscover import ERROR_CASES

    seeds = {
        "outlook": pox.outlook_body("alice@example.test"),
        "thunderbird": pox.thunderbird_body("alice@example.test"),
        "em-client": pox.em_client_body("alice@example.test"),
        "activesync": pox.activesync_body("alice@example.test"),
        "prefixed": pox.outlook_body("a@example.test")
        .replace(b"<Autodiscover xmlns=", b"<a:Autodiscover xmlns:a=")
        .replace(b"</Autodiscover>", b"</a:Autodiscover>"),
        "utf16-bom": pox.outlook_body("alice@example.test")
        .replace(b"utf-8", b"utf-16")
        .decode()
        .encode("utf-16"),
        "latin1-declared": pox.outlook_body("jörg@example.test")
        .replace(b"utf-8", b"iso-8859-1")
        .replace("ö".encode(), b"\xf6"),
        "cdata": pox.outlook_body("<![CDATA[a&b@example.test]]>"),
        "char-refs": pox.outlook_body("alice&#x40;example.test"),
    }
    for name, body, *_ in ERROR_CASES:
        if len(body) <= 4096:
            seeds["error-" + name.replace(" ", "-").replace("/", "-")] = body
    return seeds


def main() -> None:
    for kind, seeds in (
        ("pox", pox_seeds()),
        ("address", {k: v.encode() for k, v in ADDRESSES.items()}),
    ):
        folder = CORPUS / kind
        folder.mkdir(parents=True, exist_ok=True)
        seen: set[bytes] = set()
        for name, data in seeds.items():
            if data not in seen:  # one file per distinct input
                seen.add(data)
                (folder / f"seed-{name}").write_bytes(data)
        print(f"{folder}: {len(seen)} seeds")


if __name__ == "__main__":
    main()
