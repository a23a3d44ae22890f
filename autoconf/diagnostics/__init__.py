"""What ``mail-autoconf check`` and the diagnostics page tell an admin (pure, no Flask).

- :mod:`.report`: one report of a domain (settings, records, trust decisions, findings);
- :mod:`.checks`: the lint-only questions and their findings;
- :mod:`.documents`: every client's document through the formats' own renderers;
- :mod:`.livecheck`: ``check --url``, probes of a live deployment compared with DNS;
- :mod:`.clientread`: answers read the way real clients read them;
- :mod:`.probe`: ``check --probe``, the advertised servers themselves, spoken to up to the
  point where a client would send a credential (sockets; never imported by the app).
"""
