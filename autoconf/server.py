"""Run the app under gunicorn from the CLI (gunicorn >= 23: request-smuggling fixes)."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from autoconf import sources


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from autoconf import create_app
        from autoconf.logs import configure

        configure()
        app = create_app()
        settings = app.extensions["autoconf"].settings.logging
        configure(settings.format, settings.level)
        return app


def run(*, bind: str, workers: int, threads: int) -> None:
    """Serve until interrupted. Access log: the path only, never the query string."""
    _Gunicorn(
        {
            "bind": bind,
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "accesslog": "-",
            # %(U)s is the path without the query string (security.md section 5).
            "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms',
            "timeout": 30,
            # Zone files are read once in the master; SIGHUP re-reads them (sources.py).
            "on_starting": sources.on_starting,
            "on_reload": sources.on_reload,
        }
    ).run()
