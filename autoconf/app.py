"""The Flask application factory."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from autoconf import web
from autoconf.cache import WARM_EVENTS
from autoconf.cache import Clock
from autoconf.cache import DocumentCache
from autoconf.config import Settings
from autoconf.config import load_settings
from autoconf.config import settings_from_mapping
from autoconf.keeper import Keeper
from autoconf.metrics import Metrics
from autoconf.model import RecordSource
from autoconf.service import Discoverer
from autoconf.snapshot import state_directory
from autoconf.sources import dnssec_warning
from autoconf.sources import make_source
from autoconf.templating import make_environment
from autoconf.web import asked
from autoconf.web.state import EXTENSION
from autoconf.web.state import State

log = logging.getLogger(__name__)


def create_app(
    config: Settings | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    *,
    source: RecordSource | None = None,
    clock: Clock | None = None,
) -> Flask:
    """Build the application.

    ``config`` is a :class:`Settings`, a mapping shaped like the TOML file, or a path; with
    ``None`` the file named by ``$AUTOCONF_CONFIG`` (else the bundled example) is read.
    ``source`` replaces the record source the settings describe and ``clock`` the cache's
    monotonic clock (tests).

    With a state directory (``$STATE_DIRECTORY`` or ``[state] directory``) the settings
    cache is seeded from the snapshot before the app answers anything, and a
    :class:`~autoconf.keeper.Keeper` thread keeps it warm (docs/operations.md, "Caching").
    """
    settings = _settings(config)
    # Flask renders no template: every one goes through templating.make_environment().
    app = Flask("autoconf")
    app.config["MAX_CONTENT_LENGTH"] = settings.http.max_body_bytes
    # Werkzeug's form parser limits as well; nothing here reads forms, but be strict.
    app.config["MAX_FORM_MEMORY_SIZE"] = settings.http.max_body_bytes
    metrics = Metrics()
    source = source or make_source(settings.dns, metrics.observe_dns)
    warning = dnssec_warning(settings.dns, source)
    if warning:
        log.warning("%s", warning)
    discoverer = Discoverer(
        settings,
        source,
        clock=clock or time.monotonic,
        observer=_cache_observer(metrics),
        on_decision=metrics.decision,
    )
    keeper = _keeper(discoverer, metrics)
    app.extensions[EXTENSION] = State(
        settings=settings,
        discoverer=discoverer,
        templates=make_environment(),
        documents=DocumentCache(settings.cache.max_documents),
        metrics=metrics,
        keeper=keeper,
    )
    web.init_app(app)
    log.info("serving %d domain(s) from %s", len(settings.domains), settings.source)
    return app


def _keeper(discoverer: Discoverer, metrics: Metrics) -> Keeper | None:
    """Seed the cache from the snapshot and start keeping it warm, when there is a state
    directory; the snapshot is read before the first request is answered."""
    directory = state_directory(discoverer.settings, os.environ)
    if directory is None or discoverer.cache is None:
        return None
    keeper = Keeper(discoverer, directory, on_event=metrics.warm_event)
    keeper.load()
    keeper.start()
    return keeper


def _cache_observer(metrics: Metrics) -> Callable[[str], None]:
    """Cache events go to the metrics and to the current request's log line; warm-keeping
    events (refresh-ahead, stale from the snapshot) to their own counter only."""

    def observe(event: str) -> None:
        if event in WARM_EVENTS:
            metrics.warm_event(event)
            return
        metrics.cache_event(event)
        asked.note_cache(event)

    return observe


def _settings(config: Settings | Mapping[str, Any] | str | os.PathLike[str] | None) -> Settings:
    if isinstance(config, Settings):
        return config
    if isinstance(config, Mapping):
        return settings_from_mapping(config, base_dir=Path.cwd())
    return load_settings(config)
