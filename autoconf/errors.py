"""The one exception tree of autoconf.

Every error a request can meet is an :class:`AutoconfError` carrying the HTTP status it maps
to and the MS-OXDSCLI / MS-ASCMD error code used when it has to be told to an Autodiscover
client. ``autoconf.web.errors`` turns them into responses in one place; nothing else catches
them to build responses.
"""

from __future__ import annotations


class AutoconfError(Exception):
    """Base of everything autoconf raises on purpose."""

    #: HTTP status of the answer for this error.
    http_status: int = 500
    #: Autodiscover ErrorCode ([MS-OXDSCLI] 2.2.4.1.1.3.2): 603 = internal error.
    pox_code: int = 603
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


class BadRequestError(AutoconfError):
    """The request is malformed (maps to POX ErrorCode 600 "Invalid Request")."""

    http_status = 400
    pox_code = 600
    public_message = "Invalid Request"


class InvalidAddressError(BadRequestError):
    """The e-mail address or domain is not syntactically valid."""

    public_message = "Invalid e-mail address"


class UntrustedHostError(BadRequestError):
    """The Host header names no host this service answers for (docs/security-model.md)."""

    public_message = "Unknown host"


class PayloadTooLargeError(BadRequestError):
    """The request body exceeds the configured cap."""

    http_status = 413


class InvalidProtocolError(BadRequestError):
    """Autodiscover v2 was asked for a protocol this service does not offer for the domain.

    The message never echoes the requested value: nothing from the request reaches the JSON.
    """

    public_message = (
        "The given protocol value is invalid. Supported values are 'AutodiscoverV1' and,"
        " for domains with an ActiveSync server, 'ActiveSync'"
    )


class SchemaNotAvailableError(AutoconfError):
    """The client asked for a response schema we cannot serve for this domain.

    [MS-OXDSCLI] 2.2.4.1.1.3.2 ErrorCode 601: "The requested configuration type is not
    available"; answered with HTTP 200 because the Error element is the answer.
    """

    http_status = 200
    pox_code = 601
    public_message = "Provider is not available for the requested schema"


class NotServedError(AutoconfError):
    """Nothing to answer: the domain is not served, or it offers no usable servers.

    Unknown domains and domains without usable records get the same answer so the service
    reveals nothing beyond what the domain's public DNS already says.

    POX code 601 ([MS-OXDSCLI] 2.2.4.1.1.3.2: "unable to provide configuration information
    of the requested type"): 600 would claim the XML was malformed, and 500/501/602 speak
    about the address, which a per-domain answer must not (no enumeration). HTTP 404, not
    200: a 404 makes Outlook, Delta Chat and exchangelib go on to their next candidate URL
    (another server may know the domain), and Thunderbird treats 404 and Error alike.
    """

    http_status = 404
    pox_code = 601
    public_message = "No configuration for this domain"


class UnknownDomainError(NotServedError):
    """The domain is not served: not in ``[domains]`` (no DNS query made) and, with
    ``[hosting]`` on, not hosted either (``reasons`` says which condition failed)."""

    def __init__(self, detail: str = "", *, reasons: tuple[str, ...] = ()) -> None:
        super().__init__(detail)
        self.reasons = reasons


class NoSettingsError(NotServedError):
    """The domain is served but its DNS offers no usable incoming or outgoing server."""


class DnsUnavailableError(AutoconfError):
    """DNS failed (SERVFAIL, timeout) and no earlier answer is available.

    Never confused with "absent": absence is a negative answer, this is no answer at all.
    """

    http_status = 503
    pox_code = 603
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
