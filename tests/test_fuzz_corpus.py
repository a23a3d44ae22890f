"""The fuzz harness over the committed corpus: what atheris checks, CI re-checks.

Each corpus file (seeds from ``fuzz/seeds.py`` plus inputs atheris found interesting) goes
through the same check function as in the fuzz targets; a crash or broken invariant there
fails here too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fuzz.harness import InvariantError
from fuzz.harness import check_address
from fuzz.harness import check_pox

CORPUS = Path(__file__).resolve().parents[1] / "fuzz" / "corpus"
CHECKS: dict[str, Callable[[bytes], None]] = {"pox": check_pox, "address": check_address}


def corpus(kind: str) -> list[Path]:
    return sorted((CORPUS / kind).iterdir())


@pytest.mark.parametrize("kind", sorted(CHECKS))
def test_corpus_is_committed(kind: str) -> None:
    """Each target has its seeds plus what fuzzing added, so the replay means something."""
    files = corpus(kind)
    assert len([f for f in files if f.name.startswith("seed-")]) >= 20
    assert len(files) > 40


@pytest.mark.parametrize("kind", sorted(CHECKS))
def test_corpus_replays_cleanly(kind: str) -> None:
    """Every corpus input is accepted with intact invariants or refused as a client error."""
    failures = []
    for path in corpus(kind):
        try:
            CHECKS[kind](path.read_bytes())
        except Exception as error:  # the report must name every failing input
            failures.append(f"{path.name}: {type(error).__name__}: {error}")
    assert not failures, "\n".join(failures)


def test_harness_catches_a_broken_invariant(monkeypatch: pytest.MonkeyPatch) -> None:
    """The POX check really compares the echoed address: an escaping bug is reported."""
    from autoconf.formats import autodiscover

    original = autodiscover.render

    def unescaped(*args: object) -> bytes:
        return original(*args).replace(b"alice@", b"mallory@")  # type: ignore[arg-type]

    monkeypatch.setattr(autodiscover, "render", unescaped)
    with pytest.raises(InvariantError, match="LoginName"):
        check_pox((CORPUS / "pox" / "seed-outlook").read_bytes())


def test_harness_reports_5xx_errors_for_client_input(monkeypatch: pytest.MonkeyPatch) -> None:
    """An error outside the client range (a 603 for a body) counts as a finding."""
    from autoconf.errors import DnsUnavailableError
    from autoconf.formats import autodiscover

    def failing(body: bytes) -> None:
        raise DnsUnavailableError("not a parser error")

    monkeypatch.setattr(autodiscover, "parse_request", failing)
    with pytest.raises(InvariantError, match="DnsUnavailableError"):
        check_pox(b"<x/>")


@pytest.mark.parametrize("text", ["i..", "example.test..", "alice@example.test.."])
def test_fuzz_finding_double_trailing_dot(text: str) -> None:
    """fuzz_address found "i.." normalised to "i." (idna keeps a root label): a trailing
    dot must never survive normalisation, so two of them are refused."""
    from autoconf.address import parse_address
    from autoconf.address import parse_domain
    from autoconf.errors import InvalidAddressError

    with pytest.raises(InvalidAddressError):
        parse_address(text) if "@" in text else parse_domain(text)
