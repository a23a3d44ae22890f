"""autoconf: mail-client auto-configuration derived from the domain's own DNS SRV records.

Importing the package does nothing; :func:`create_app` is loaded on first use so that the
pure core (``autoconf.address``, ``autoconf.model``, ``autoconf.discovery``) can be imported
without Flask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

#: The one version source (the distribution reads it). The container image's tag and label
#: in deploy/ are literals that cannot read it: bump them with it (a test holds them equal).
__version__ = "0.1.0"
__all__ = ["__version__", "create_app"]

if TYPE_CHECKING:
    from autoconf.app import create_app


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from autoconf.app import create_app

        return create_app
    raise AttributeError(name)
