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
from autoconf.cache import Clock
from autoconf.cache import DocumentCache
from autoconf.config import Settings
from autoconf.config import load_settings
from autoconf.config import settings_from_mapping
from autoconf.metrics import Metrics
from autoconf.model import RecordSource
from autoconf.service import Discoverer
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
    app.extensions[EXTENSION] = State(
        settings=settings,
        discoverer=Discoverer(
            settings,
            source,
            clock=clock or time.monotonic,
            observer=_cache_observer(metrics),
        ),
        templates=make_environment(),
        documents=DocumentCache(settings.cache.max_documents),
        metrics=metrics,
    )
    web.init_app(app)
    log.info("serving %d domain(s) from %s", len(settings.domains), settings.source)
    return app


def _cache_observer(metrics: Metrics) -> Callable[[str], None]:
    """Cache events go to the metrics and to the current request's log line."""

    def observe(event: str) -> None:
        metrics.cache_event(event)
        asked.note_cache(event)

    return observe


def _settings(config: Settings | Mapping[str, Any] | str | os.PathLike[str] | None) -> Settings:
    if isinstance(config, Settings):
        return config
    if isinstance(config, Mapping):
        return settings_from_mapping(config, base_dir=Path.cwd())
    return load_settings(config)
