"""The one exception tree of autoconf.

::

    AutoconfError               anything autoconf raises on purpose
    ├── ConfigError             start-up: the configuration is invalid (never in a request)
    ├── SnapshotError           the settings snapshot on disk is unusable (ignored, warned)
    └── RequestError            a request cannot get settings; told to the client
        ├── BadRequestError             400  malformed request
        │   ├── InvalidAddressError
        │   ├── UntrustedHostError
        │   ├── PayloadTooLargeError    413
        │   └── InvalidProtocolError
        ├── SchemaNotAvailableError     200  POX: the asked schema is not offered
        ├── NotServedError              404  nothing to answer for the domain
        │   ├── UnknownDomainError
        │   └── NoSettingsError
        └── DnsUnavailableError         503  DNS failed, nothing stale to serve
            └── DecisionBudgetError          hosting: cold decisions budget spent

A request error carries a status hint, as h11's ``error_status_hint``: the HTTP status an
answer in any format starts from. How it is told is the format's business: each client
format registers its own error answer (``autoconf/web/``), and the format module holds its
protocol's codes (``autoconf.formats.autodiscover.error_code``, ``autoconf.formats
.autodiscover_json.ERROR_CODES``).
"""

from __future__ import annotations


class AutoconfError(Exception):
    """Base of everything autoconf raises on purpose."""

    #: Short public text; never contains input echoed back.
    public_message: str = "Internal error"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.public_message)
        self.detail = detail or self.public_message


class ConfigError(AutoconfError):
    """The configuration is invalid; raised at start-up, naming the offending key."""


class SnapshotError(AutoconfError):
    """The settings snapshot on disk is unusable (corrupt, foreign, too old, hostile); it
    is ignored with one warning, never a reason to stop or to answer a client."""


class RequestError(AutoconfError):
    """What a request can meet on its way to an answer; each format tells it its own way."""

    #: The HTTP status of the answer unless the client's format says otherwise.
    error_status_hint: int = 500


class BadRequestError(RequestError):
    """The request is malformed (POX ErrorCode 600 "Invalid Request")."""

    error_status_hint = 400
    public_message = "Invalid Request"


class InvalidAddressError(BadRequestError):
    """The e-mail address or domain is not syntactically valid."""

    public_message = "Invalid e-mail address"


class UntrustedHostError(BadRequestError):
    """The Host header names no host this service answers for (docs/security-model.md,
    "Input handling")."""

    public_message = "Unknown host"


class PayloadTooLargeError(BadRequestError):
    """The request body exceeds the configured cap."""

    error_status_hint = 413


class InvalidProtocolError(BadRequestError):
    """Autodiscover v2 was asked for a protocol this service does not offer for the domain.

    The message never echoes the requested value: nothing from the request reaches the JSON.
    """

    public_message = (
        "The given protocol value is invalid. Supported values are 'AutodiscoverV1' and,"
        " for domains with an ActiveSync server, 'ActiveSync'"
    )


class SchemaNotAvailableError(RequestError):
    """The client asked for a response schema we cannot serve for this domain.

    An error although its status is 200: it is a refusal, told the way the Autodiscover
    protocol tells refusals, as an Error document with ErrorCode 601 ([MS-OXDSCLI]
    2.2.4.1.1.3.2: "The requested configuration type is not available"; [MS-ASCMD]
    2.2.3.64). The Error element is the answer, so the HTTP status is 200; raised, it stops
    the request before any DNS query or redirect, the one Error renderer writes it, and
    the request log names it as the outcome.
    """

    error_status_hint = 200
    public_message = "Provider is not available for the requested schema"


class NotServedError(RequestError):
    """Nothing to answer: the domain is not served, or it offers no usable servers.

    Unknown domains and domains without usable records get the same answer so the service
    reveals nothing beyond what the domain's public DNS already says. HTTP 404, not 200: a
    404 makes Outlook, Delta Chat and exchangelib go on to their next candidate URL
    (another server may know the domain), and Thunderbird treats 404 and Error alike.
    """

    error_status_hint = 404
    public_message = "No configuration for this domain"


class UnknownDomainError(NotServedError):
    """The domain is not served: not in ``[domains]`` (no DNS query made) and, with
    ``[hosting]`` on, not hosted either (``reasons`` says which condition failed)."""

    def __init__(self, detail: str = "", *, reasons: tuple[str, ...] = ()) -> None:
        super().__init__(detail)
        self.reasons = reasons


class NoSettingsError(NotServedError):
    """The domain is served but its DNS offers no usable incoming or outgoing server."""


class DnsUnavailableError(RequestError):
    """DNS failed (SERVFAIL, timeout) and no earlier answer is available.

    Never confused with "absent": absence is a negative answer, this is no answer at all.
    """

    error_status_hint = 503
    public_message = "DNS temporarily unavailable"

    def __init__(self, detail: str = "", *, retry_after: int = 30) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class DecisionBudgetError(DnsUnavailableError):
    """Too many domains never seen before at once: this worker's budget of cold hosting
    decisions per second is spent, so DNS is not asked ([hosting] decisions_per_second).

    A stranger flooding the service with random names costs a bounded number of queries.
    Answered like a DNS outage in every client format (HTTP 503 with Retry-After, POX 603,
    v2 "ServiceUnavailable"): a client retries later, and the settings cache keeps serving
    what it had (RFC 8767) when a known domain's refresh is the one refused.
    """

    public_message = "Service temporarily busy"
