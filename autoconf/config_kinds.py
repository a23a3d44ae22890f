"""Kinds of configuration values: how one value is checked, converted and described.

A :class:`Key` of :mod:`autoconf.config_keys` names its kind (``Integer(0, 300)``,
``Strings(host_name, "host names")``, ...); the kind refuses a bad value with a
:class:`~autoconf.errors.ConfigError` naming the key, and tells the reference what is allowed
in the words of that error ("an integer in [0, 300]"). Pure module, like the table.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import unicodedata
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import Generic
from typing import Protocol
from typing import TypeVar
from urllib.parse import urlsplit

from autoconf.address import parse_domain
from autoconf.errors import ConfigError
from autoconf.errors import InvalidAddressError
from autoconf.hosting import DOMAIN_PLACEHOLDER
from autoconf.names import host_name_problem

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Kind(Protocol[T_co]):
    """What values a key takes: checked and converted by ``parse``, told by ``describe``."""

    def parse(self, value: Any, where: str, base_dir: Path) -> T_co:
        """``value`` as the settings hold it; ``where`` is the key as the error names it,
        ``base_dir`` the configuration file's folder (for relative paths).

        :raises ConfigError: naming ``where``.
        """
        ...

    def describe(self) -> str:
        """The allowed values, in the words of the error message ("an integer in [0, 300]")."""
        ...


@dataclass(frozen=True, slots=True)
class Key(Generic[T]):
    """One key of a section."""

    name: str
    #: As written in TOML (the example file shows this value).
    default: Any
    kind: Kind[T]
    #: One paragraph of Markdown for the admin (names and values in code spans): what the
    #: key does, what its special values mean.
    doc: str
    #: A value the example file sets instead of the default (None: it shows the default).
    example: Any = None

    @property
    def value(self) -> T:
        """The default as the settings hold it."""
        return self.kind.parse(self.default, self.name, Path())


@dataclass(frozen=True, slots=True)
class Section:
    """One TOML table: ``[dns]``, or ``[domains."<domain>"]`` once per served domain."""

    name: str
    doc: str
    keys: tuple[Key[Any], ...]
    #: A table per served domain under ``[domains]`` instead of one table.
    per_domain: bool = False

    def __getitem__(self, name: str) -> Key[Any]:
        for key in self.keys:
            if key.name == name:
                return key
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(key.name for key in self.keys)

    def values(self, table: object, where: str, base_dir: Path) -> dict[str, Any]:
        """Every key's value from ``table`` (the default where absent), checked and
        converted; an unknown key is refused with the allowed ones listed."""
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where}: must be a table")
        refuse_unknown(table, self.names, where)
        return {
            key.name: key.kind.parse(
                table.get(key.name, key.default), f"{where}.{key.name}", base_dir
            )
            for key in self.keys
        }


def refuse_unknown(table: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    """A typo is loud: any key not in ``allowed`` stops start-up."""
    for key in table:
        if key not in allowed:
            prefix = f"{where}." if where else ""
            raise ConfigError(f"{prefix}{key}: unknown key (allowed: {', '.join(sorted(allowed))})")


# --- Kinds of values -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Boolean:
    def describe(self) -> str:
        return "true or false"

    def parse(self, value: Any, where: str, base_dir: Path) -> bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: must be {self.describe()}")
        return value


@dataclass(frozen=True, slots=True)
class Integer:
    low: int
    high: int

    def describe(self) -> str:
        return f"an integer in [{self.low}, {self.high}]"

    def parse(self, value: Any, where: str, base_dir: Path) -> int:
        # TOML booleans are Python ints; "true" is no number of seconds.
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not self.low <= value <= self.high
        ):
            raise ConfigError(f"{where}: must be {self.describe()}")
        return value


@dataclass(frozen=True, slots=True)
class Number:
    low: float
    high: float
    #: The low bound itself is refused: (low, high] instead of [low, high].
    above_low: bool = False
    what: str = "a number"

    def describe(self) -> str:
        opening = "(" if self.above_low else "["
        return f"{self.what} in {opening}{self.low:g}, {self.high:g}]"

    def parse(self, value: Any, where: str, base_dir: Path) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: must be {self.describe()}")
        above = self.low < value if self.above_low else self.low <= value
        if not (above and value <= self.high):
            raise ConfigError(f"{where}: must be {self.describe()}")
        return float(value)


@dataclass(frozen=True, slots=True)
class OneOf:
    choices: tuple[str, ...]

    def describe(self) -> str:
        return f"one of {', '.join(self.choices)}"

    def parse(self, value: Any, where: str, base_dir: Path) -> str:
        if value not in self.choices:
            raise ConfigError(f"{where}: must be {self.describe()}")
        return str(value)


_E = TypeVar("_E", bound=enum.Enum)


@dataclass(frozen=True, slots=True)
class EnumOf(Generic[_E]):
    enum: type[_E]

    def describe(self) -> str:
        return f"one of {', '.join(repr(m.value) for m in self.enum)}"

    def parse(self, value: Any, where: str, base_dir: Path) -> _E:
        try:
            return self.enum(value)
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in self.enum)
            raise ConfigError(f"{where}: {value!r} is not one of {allowed}") from None


@dataclass(frozen=True, slots=True)
class Strings(Generic[T]):
    """A list of strings, each checked by ``item`` (called with the string and the key)."""

    item: Callable[[Any, str], T]
    #: What the list holds, for the reference ("host names").
    items: str

    def describe(self) -> str:
        return f"a list of {self.items}"

    def parse(self, value: Any, where: str, base_dir: Path) -> tuple[T, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: must be a list of strings")
        return tuple(self.item(v, where) for v in value)


@dataclass(frozen=True, slots=True)
class Text:
    """A name shown to users: at most 200 printable characters, surrounding blanks dropped.
    Control characters (or undecodable bytes from the environment) cannot be written into
    XML or a property list, so they are refused here rather than failing every request."""

    def describe(self) -> str:
        return "a string of at most 200 characters"

    def parse(self, value: Any, where: str, base_dir: Path) -> str:
        if not isinstance(value, str) or len(value) > 200:
            raise ConfigError(f"{where}: must be {self.describe()}")
        if any(unicodedata.category(char) in ("Cc", "Cs") for char in value):
            raise ConfigError(f"{where}: must not contain control characters or invalid UTF-8")
        return value.strip()


@dataclass(frozen=True, slots=True)
class String:
    """Any string; what it must name is checked where the other keys are known."""

    what: str

    def describe(self) -> str:
        return self.what

    def parse(self, value: Any, where: str, base_dir: Path) -> str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: must be {self.what}")
        return value


@dataclass(frozen=True, slots=True)
class HttpsUrl:
    """An ``https://`` URL or "" (none); a template's ``{domain}`` is checked filled in, as
    every hosted domain will see it."""

    template: bool = False

    def describe(self) -> str:
        filled = f" ({DOMAIN_PLACEHOLDER} is replaced by the domain)" if self.template else ""
        return f'an https:// URL{filled}, or ""'

    def parse(self, value: Any, where: str, base_dir: Path) -> str:
        if value == "":
            return ""
        if not isinstance(value, str):
            raise ConfigError(f"{where}: must be a string")
        url = value.replace(DOMAIN_PLACEHOLDER, "example.org") if self.template else value
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname or any(c in url for c in "<>\"' \n"):
            raise ConfigError(f"{where}: must be an https:// URL")
        return value


@dataclass(frozen=True, slots=True)
class FilePath:
    """A path relative to the configuration file; "" (or blanks) is None."""

    what: str = "a file path"

    def describe(self) -> str:
        return f'{self.what} (relative to the configuration file), or ""'

    def parse(self, value: Any, where: str, base_dir: Path) -> Path | None:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: must be {self.what}")
        return base_dir / value if value.strip() else None


#: Reverse-DNS style, like Apple's own identifiers ("com.example.mail").
_IDENTIFIER_PREFIX = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")


@dataclass(frozen=True, slots=True)
class ReverseDns:
    def describe(self) -> str:
        return "reverse-DNS style, e.g. 'com.example.mail', at most 100 characters, or \"\""

    def parse(self, value: Any, where: str, base_dir: Path) -> str:
        if not isinstance(value, str) or len(value) > 100:
            raise ConfigError(f"{where}: must be a string of at most 100 characters")
        if value and not _IDENTIFIER_PREFIX.fullmatch(value):
            raise ConfigError(f"{where}: must be reverse-DNS style, e.g. 'com.example.mail'")
        return value


@dataclass(frozen=True, slots=True)
class ZoneFile:
    """One entry of ``dns.zone_files``: a zone file and, when the file does not state it,
    the zone's origin (the name a DNS server's own configuration would give it)."""

    path: Path
    #: A-label without the trailing dot; "" = taken from the file ($ORIGIN or the SOA owner).
    origin: str = ""


_ZONE_FILE_KEYS = ("file", "origin")
_ZONE_FILES_SHAPE = 'a list of file names or { file = "...", origin = "..." } tables'


@dataclass(frozen=True, slots=True)
class ZoneFiles:
    """``["a.zone", { file = "db.example", origin = "example.org" }, ...]``. The origin is
    only needed for a file that does not state its own."""

    def describe(self) -> str:
        return f"{_ZONE_FILES_SHAPE} (paths relative to the configuration file)"

    def parse(self, value: Any, where: str, base_dir: Path) -> tuple[ZoneFile, ...]:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: must be {_ZONE_FILES_SHAPE}")
        entries: list[ZoneFile] = []
        seen: dict[Path, str] = {}
        for raw in value:
            if isinstance(raw, str):
                name, origin = raw, ""
            elif isinstance(raw, Mapping):
                refuse_unknown(raw, _ZONE_FILE_KEYS, where)
                file = raw.get("file")
                if not isinstance(file, str):
                    raise ConfigError(f'{where}: every table needs file = "<path>"')
                name, origin = file, ""
                if "origin" in raw:
                    origin = domain_name(raw["origin"], f"{where}: origin of {name}")
            else:
                raise ConfigError(f"{where}: must be {_ZONE_FILES_SHAPE}")
            if not name.strip():
                raise ConfigError(f"{where}: empty file name")
            path = base_dir / name
            # Two spellings (or symlinks) of one file would load one zone twice.
            key = path.resolve()
            if key in seen:
                same = (
                    "is listed twice" if seen[key] == name else f"is the same file as {seen[key]}"
                )
                raise ConfigError(f"{where}: {name} {same}")
            seen[key] = name
            entries.append(ZoneFile(path, origin))
        return tuple(entries)


# --- Checks of one string ----------------------------------------------------------------


def domain_name(value: Any, where: str) -> str:
    """A domain name as an IDNA 2008 A-label, the form requests are compared in."""
    if not isinstance(value, str):
        raise ConfigError(f"{where}: must be a domain name")
    try:
        return parse_domain(value)
    except InvalidAddressError as exc:
        raise ConfigError(f"{where}: {exc.detail}") from None


def host_name(value: Any, where: str) -> str:
    """A domain that SRV targets are compared with: an IDNA 2008 A-label name that is also
    a host name (LDH labels, not numeric at the end), as every target must be."""
    name = domain_name(value, where)
    problem = host_name_problem(name)
    if problem:
        raise ConfigError(f"{where}: {value!r} is not a host name: {problem}")
    return name


def parse_nameserver(text: str, where: str = "dns.nameservers") -> tuple[str, int]:
    """``"192.0.2.1"``, ``"192.0.2.1:5353"``, ``"[2001:db8::1]:53"`` -> (address, port).

    :raises ConfigError: when the text is not an IP address with an optional port.
    """
    host, port = text.strip(), "53"
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        port = rest.removeprefix(":") if rest else port
    elif host.count(":") == 1:
        host, _, port = host.partition(":")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(f"{where}: {text!r} is not an IP address[:port]") from None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{where}: bad port in {text!r}")
    return str(address), int(port)
