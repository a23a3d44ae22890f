"""What every request needs, built once per application, and where a view finds it.

Defined here, not in :mod:`autoconf.app`: the factory imports the web layer, so the web
layer importing the factory's module would be a cycle (app -> web -> app).
"""

from __future__ import annotations

from dataclasses import dataclass

import jinja2
from flask import Flask
from flask import current_app

from autoconf.cache import DocumentCache
from autoconf.config import Settings
from autoconf.keeper import Keeper
from autoconf.metrics import Metrics
from autoconf.service import Discoverer

#: The ``app.extensions`` key of the application's :class:`State`.
EXTENSION = "autoconf"


@dataclass(frozen=True, slots=True, kw_only=True)
class State:
    """Everything a request needs, built once per application."""

    settings: Settings
    discoverer: Discoverer
    templates: jinja2.Environment
    #: Rendered address-independent documents, keyed by (format, provider version).
    documents: DocumentCache
    metrics: Metrics
    #: Warm start and warm keeping (the settings snapshot); None without a state directory.
    keeper: Keeper | None = None


def state() -> State:
    """The current application's :class:`State`."""
    return state_of(current_app)


def state_of(app: Flask) -> State:
    """``app``'s :class:`State` (outside a request: at set-up)."""
    found: State = app.extensions[EXTENSION]
    return found
