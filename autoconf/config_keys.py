"""Every configuration key, defined once: its section, name, default, the values it takes and
what it means to the admin who sets it.

Everything else reads this table: the validation in :mod:`autoconf.config` (unknown keys,
defaults, the error naming the key), the defaults of :class:`autoconf.cache.CachePolicy`, the
generated reference (``python -m autoconf.config_reference``) and the test that
``deploy/autoconf.example.toml`` shows every key with its default. A check that involves
more than one key (``cache.floor`` <= ``cache.cap``, ``[hosting]`` naming a listed domain)
stays with the section's builder in :mod:`autoconf.config`.

Pure module (no Flask, no dnspython, no file access): :mod:`autoconf.cache` takes its
defaults from here.
"""

from __future__ import annotations

from autoconf.config_kinds import Boolean
from autoconf.config_kinds import EnumOf
from autoconf.config_kinds import FilePath
from autoconf.config_kinds import HttpsUrl
from autoconf.config_kinds import Integer
from autoconf.config_kinds import Key
from autoconf.config_kinds import Number
from autoconf.config_kinds import OneOf
from autoconf.config_kinds import ReverseDns
from autoconf.config_kinds import Section
from autoconf.config_kinds import String
from autoconf.config_kinds import Strings
from autoconf.config_kinds import Text
from autoconf.config_kinds import ZoneFiles
from autoconf.config_kinds import host_name
from autoconf.config_kinds import parse_nameserver
from autoconf.hosting import DOMAIN_PLACEHOLDER
from autoconf.model import AliasLogin
from autoconf.model import Authentication
from autoconf.model import Username

_DAY = 86400

# Each ``doc`` is Markdown for the reference: names and values in code spans.

_PASSWORD = (
    '`"password-cleartext"` (a plain password inside TLS) or `"password-encrypted"` '
    "(challenge-response: CRAM-MD5 and the like)."
)

DNS = Section(
    "dns",
    "Where DNS answers come from, and which SRV targets are handed to clients.",
    (
        Key(
            "nameservers",
            [],
            Strings(
                parse_nameserver,
                'IP addresses with an optional port: "IP", "IP:PORT", "[IPv6]:PORT"',
            ),
            "The resolvers to ask. Empty: those of `/etc/resolv.conf`. A local validating "
            "resolver (unbound) is the best choice: it caches, and only a resolver on loopback "
            "can vouch for the DNSSEC AD bit (see `dnssec`).",
            example=["127.0.0.1:53"],
        ),
        Key(
            "timeout",
            2.0,
            Number(0, 30, above_low=True, what="a number of seconds"),
            "Seconds one lookup may take in total: every server, retry and TCP fallback "
            "included. Keep it far below gunicorn's worker timeout (20 s): a slow DNS server "
            "must not pin the workers.",
        ),
        Key(
            "zone_files",
            [],
            ZoneFiles(),
            "Non-empty: answer from these zone files instead of asking DNS. Use the very files "
            "your DNS server loads, and the two can never disagree. A file's name does not "
            "matter: the zone's origin is the owner of its SOA record, written absolutely or "
            "under a `$ORIGIN` (RFC 1035 section 5.1). A file that does not state it "
            '(`@ SOA ...` with no `$ORIGIN`) gets it from a `{ file = "...", origin = "..." }` '
            "table. A broken file stops start-up naming the file and line; edits are read on "
            "SIGHUP (`systemctl reload`).",
            example=["example.com.zone", {"file": "/etc/bind/db.example", "origin": "example.org"}],
        ),
        Key(
            "trusted_target_suffixes",
            [],
            Strings(host_name, "host names"),
            "SRV targets outside the mail domain are dropped (RFC 6186 section 6: the client "
            "should ask its user before using one, and this service cannot ask) unless they "
            "lie under one of these suffixes, e.g. your mail hoster's domain.",
        ),
        Key(
            "dnssec",
            False,
            Boolean(),
            "`true`: also accept out-of-domain SRV targets when the answer carried the DNSSEC "
            "AD bit (RFC 4035 section 3.2.3). The bit is only as trustworthy as the path to "
            "the resolver: enable it only with a validating resolver on loopback in "
            "`nameservers`. The service warns at start-up and in `mail-autoconf check` when a "
            "resolver, configured or from `/etc/resolv.conf`, is not on loopback.",
        ),
    ),
)

HTTP = Section(
    "http",
    "Limits on HTTP requests, and the `Host` names answered.",
    (
        Key(
            "max_body_bytes",
            16384,
            Integer(256, 1 << 20),
            "A request whose declared body is larger gets 413, on every route; the POX route "
            "also counts chunked bodies. An Autodiscover request is under 1 KiB.",
        ),
        Key(
            "trusted_hosts",
            [],
            Strings(host_name, "host names"),
            "`Host` names answered besides the served domains, their `autoconfig.` and "
            "`autodiscover.` names, and loopback; any other `Host` gets 400. Add the service's "
            "own name, or `autoconfig.<your MX domain>` when customers' Thunderbird finds you "
            "through their MX.",
        ),
    ),
)

MOBILECONFIG = Section(
    "mobileconfig",
    "Apple configuration profiles (`/mobileconfig?emailaddress=...`): how they are named, and "
    "signed when a certificate is given. The signing files are read and checked at start-up.",
    (
        Key(
            "sign_cert",
            "",
            FilePath(),
            "PEM certificate that signs the profiles (CMS, DER). Devices that trust its issuer "
            "show signed profiles as Verified; unsigned ones install as Unsigned. A public TLS "
            "certificate works; once it has expired devices show new profiles as unverified "
            "(the service logs a warning at start-up). Needs `sign_key`.",
        ),
        Key(
            "sign_key",
            "",
            FilePath(),
            "The certificate's private key, PEM, unencrypted (RSA or EC). A key that does not "
            "belong to `sign_cert`, an encrypted key or an unreadable file stops start-up.",
        ),
        Key(
            "sign_chain",
            "",
            FilePath(),
            "Intermediate certificates (PEM) sent along with the signature, so devices can "
            "build the chain to their root. Needs `sign_cert` and `sign_key`.",
        ),
        Key(
            "organization",
            "",
            Text(),
            "`PayloadOrganization`, shown on the device. Empty: the domain's `display_name`.",
        ),
        Key(
            "identifier_prefix",
            "",
            ReverseDns(),
            "The start of every `PayloadIdentifier`. Empty: the reversed domain and "
            "`.autoconf` (`com.example.autoconf`). Changing it later makes devices install a "
            "second profile next to the old one instead of replacing it.",
        ),
    ),
)

CACHE = Section(
    "cache",
    "Each worker keeps the settings derived for each domain for the DNS TTL, clamped to "
    "`[floor, cap]` seconds.",
    (
        Key(
            "enabled",
            True,
            Boolean(),
            "`false`: every request asks DNS (for debugging only).",
        ),
        Key(
            "floor",
            60,
            Integer(0, _DAY),
            "Seconds settings are kept at least, whatever the TTL. At most `cap`.",
        ),
        Key(
            "cap",
            3600,
            Integer(1, _DAY),
            "Seconds settings are kept at most, whatever the TTL.",
        ),
        Key(
            "negative_cap",
            300,
            Integer(0, _DAY),
            "No usable servers is an answer too: it is kept for the negative TTL the zone's "
            "SOA gives (RFC 2308 section 5), at most this many seconds.",
        ),
        Key(
            "failure_ttl",
            5,
            Integer(0, 300),
            "Seconds a DNS failure (SERVFAIL, timeout) is remembered before DNS is asked "
            "again, so an outage is not hammered. RFC 2308 section 7.1 allows 5 minutes at "
            "most.",
        ),
        Key(
            "stale_if_error",
            86400,
            # RFC 8767 suggests 1 to 3 days of staleness; a week is the most we accept.
            Integer(0, 7 * _DAY),
            "While DNS fails, the last good settings are served up to this many seconds past "
            "their expiry (RFC 8767 serve-stale, which suggests 1 to 3 days). 0 turns stale "
            "serving off.",
        ),
        Key(
            "max_entries",
            10000,
            Integer(1, 10_000_000),
            "Domains kept per worker, least recently used evicted first.",
        ),
        Key(
            "max_documents",
            1024,
            Integer(0, 1_000_000),
            "Rendered documents kept per worker, least recently used evicted first; 0: none.",
        ),
        Key(
            "refresh_ahead",
            0.1,
            Number(0, 0.5),
            "A request that finds settings with less than this fraction of their lifetime "
            "left gets them at once and refreshes them in the background (as unbound's "
            "`prefetch` does, at 10 %). 0 turns refresh-ahead off.",
        ),
        Key(
            "refresh_rate",
            20,
            Integer(1, 10_000),
            "Lookups per second at most for the one worker per host that keeps every listed "
            "domain fresh (with a state directory). With many domains use at least "
            "`domains / (0.8 * cap)`.",
        ),
    ),
)

STATE = Section(
    "state",
    "The settings snapshot: workers start warm, and a restart during a DNS outage still answers.",
    (
        Key(
            "snapshot",
            True,
            Boolean(),
            "Write and read the snapshot when there is a state directory.",
        ),
        Key(
            "directory",
            "",
            FilePath("a directory path"),
            "The state directory when `$STATE_DIRECTORY` is not set (systemd sets it for "
            "`StateDirectory=`, the container image to `/var/lib/autoconf`); created with mode "
            "0700. Empty and no `$STATE_DIRECTORY`: no snapshot.",
        ),
    ),
)

LOGGING = Section(
    "logging",
    "How the service logs (to stderr).",
    (
        Key(
            "format",
            "json",
            OneOf(("json", "text")),
            '`"json"`: one object per line, for log shippers; `"text"`: for a developer\'s '
            "terminal.",
        ),
        Key(
            "level",
            "info",
            OneOf(("debug", "info", "warning", "error")),
            "At `info` every request gets one line (format, domain, outcome, status, latency, "
            "cache state).",
        ),
        Key(
            "addresses",
            False,
            Boolean(),
            "`true`: request lines carry the full address. Off by default: the domain is "
            "enough to debug a setup, and an address is personal data.",
        ),
    ),
)

DIAGNOSTICS = Section(
    "diagnostics",
    "The admin page at `/`.",
    (
        Key(
            "enabled",
            True,
            Boolean(),
            "Serve the page: records, trust decisions, lint findings and every client's "
            "document for a served domain. It shows only what public DNS and the client "
            "endpoints already tell anyone, and never looks up unserved domains, so it is on "
            "by default. `false`: `/` answers 404 like any unknown path.",
        ),
    ),
)

HOSTING = Section(
    "hosting",
    "A mail host serving many customer domains: DNS decides which unlisted domains are "
    "served. Every key is checked even while hosting is off, so a typo is loud.",
    (
        Key(
            "enabled",
            False,
            Boolean(),
            "`true`: a domain not listed under `[domains]` is served when its DNS says it is "
            "hosted here, tried in order: its own SRV records name only servers under "
            "`mail_hosts` (it gets those settings); its most preferred MX lies under "
            "`mail_hosts`, or its `autoconfig.` or `autodiscover.` name is a CNAME to the "
            "provider's (it gets the provider's settings). Anything else: 404. `false`: only "
            "listed domains are served, and any other domain costs no DNS query.",
        ),
        Key(
            "mail_hosts",
            [],
            Strings(host_name, "host names"),
            'Suffixes of your own mail servers\' names, e.g. `["mail.hoster.example"]`. '
            "Required when enabled.",
        ),
        Key(
            "provider",
            "",
            String("a domain of [domains]"),
            "Your own domain, listed under `[domains]` (not an alias): MX- and CNAME-hosted "
            "domains get its settings. Required when enabled.",
        ),
        Key(
            "display_name",
            DOMAIN_PLACEHOLDER,
            Text(),
            f"The provider name clients show for a hosted domain; `{DOMAIN_PLACEHOLDER}` is "
            "replaced by the domain.",
        ),
        Key(
            "username",
            Username.EMAILADDRESS.value,
            EnumOf(Username),
            'The login of hosted domains\' users: `"%EMAILADDRESS%"` (the full address) or '
            '`"%EMAILLOCALPART%"`.',
        ),
        Key(
            "authentication",
            Authentication.PASSWORD_CLEARTEXT.value,
            EnumOf(Authentication),
            f"The password mechanism of hosted domains: {_PASSWORD}",
        ),
        Key(
            "activesync_url",
            "",
            HttpsUrl(template=True),
            f"The ActiveSync endpoint of hosted domains; `{DOMAIN_PLACEHOLDER}` is replaced by "
            "the domain. Empty: the provider's `activesync_url`.",
        ),
        Key(
            "decisions_per_second",
            20,
            Number(0, 10_000, above_low=True),
            "Cold decisions (about a domain not seen before) per second and worker; beyond it "
            "the answer is 503 with `Retry-After` instead of a DNS lookup, so a flood of random "
            "names costs a bounded number of queries (17 per decision). Listed domains never "
            "count.",
        ),
        Key(
            "max_decisions",
            10000,
            Integer(1, 10_000_000),
            "Decisions kept per worker, least recently used evicted first; apart from "
            "`[cache] max_entries`, so strangers never evict listed domains. Also the most "
            "served decisions the settings snapshot holds.",
        ),
    ),
)

DOMAIN = Section(
    "domains",
    "One table per served domain, at least one. Only listed domains and their aliases are "
    "answered (and, with `[hosting]` on, the domains DNS says are hosted); any other domain "
    "gets 404 without a DNS query.",
    (
        Key(
            "aliases",
            [],
            Strings(host_name, "host names"),
            "Domains whose addresses are the same mailboxes as this domain's: every client "
            "gets this domain's servers for an alias address. A domain is the alias of one "
            "primary domain at most, and never a primary domain itself.",
            example=["example.net"],
        ),
        Key(
            "alias_login",
            AliasLogin.PRIMARY.value,
            EnumOf(AliasLogin),
            'The login an alias address is given, in every format alike. `"primary"`: '
            "`alice@example.net` logs in as `alice@example.com` (the Thunderbird document "
            'says `"%EMAILLOCALPART%@example.com"`, POX redirects Outlook to '
            "`alice@example.com`, the Apple profile's user names are `alice@example.com`), for "
            "servers that authenticate the primary address only (the usual case). "
            '`"address"`: `alice@example.net` logs in as `alice@example.net` (POX answers '
            "with that login instead of redirecting), for servers that map alias logins to "
            'the mailbox. Without aliases, or with `username = "%EMAILLOCALPART%"`, it '
            "changes nothing.",
        ),
        Key(
            "display_name",
            "",
            Text(),
            "Shown by clients as the provider name. Empty: the domain.",
            example="Example Mail",
        ),
        Key(
            "username",
            Username.EMAILADDRESS.value,
            EnumOf(Username),
            'The login name: `"%EMAILADDRESS%"` (the full address, which RFC 6186 section 4 '
            'tells clients to try first) or `"%EMAILLOCALPART%"`.',
        ),
        Key(
            "authentication",
            Authentication.PASSWORD_CLEARTEXT.value,
            EnumOf(Authentication),
            _PASSWORD,
        ),
        Key(
            "activesync_url",
            "",
            HttpsUrl(),
            "The Exchange ActiveSync endpoint, if you run one (Z-Push, SOGo, grommunio). "
            "Empty: ActiveSync clients are told the schema is not available (Autodiscover "
            "error 601).",
        ),
    ),
    per_domain=True,
)

#: Every section, in the order of the example file and the reference.
SECTIONS = (DNS, HTTP, MOBILECONFIG, CACHE, STATE, LOGGING, DIAGNOSTICS, HOSTING, DOMAIN)
