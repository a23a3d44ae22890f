"""Every URL the application serves, for sweeps over all routes."""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import Rule

ADDRESS = "alice@example.test"


def route_urls(app: Flask) -> list[str]:
    """A concrete URL for every rule: fixed words as written, choices as their first
    option, free variables as an address."""
    urls = []
    for rule in app.url_map.iter_rules():
        built = rule.build({name: _value(rule, name) for name in rule.arguments})
        assert built is not None
        urls.append(built[1])
    return urls


def _value(rule: Rule, name: str) -> str:
    items = getattr(rule._converters[name], "items", None)
    return str(sorted(items)[0]) if items else ADDRESS
