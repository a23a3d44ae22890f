"""Alias domains across formats: every client ends up with the primary domain's settings."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient


@pytest.mark.parametrize("query", ["?emailaddress=bob@alias.test", "?emailaddress=bob@ALIAS.test."])
def test_thunderbird_alias_gets_the_primary_document(client: FlaskClient, query: str) -> None:
    """Thunderbird has no redirect element: the alias gets the primary's document as is."""
    primary = client.get("/mail/config-v1.1.xml?emailaddress=bob@example.test")
    alias = client.get("/mail/config-v1.1.xml" + query)
    assert (primary.status_code, alias.status_code) == (200, 200)
    assert alias.data == primary.data
    assert b"<domain>alias.test</domain>" in alias.data


def test_thunderbird_alias_by_host(client: FlaskClient) -> None:
    """Without emailaddress, ``autoconfig.<alias>`` also serves the primary's document."""
    response = client.get("/mail/config-v1.1.xml", headers={"Host": "autoconfig.alias.test"})
    assert response.status_code == 200
    assert b'<emailProvider id="example.test">' in response.data
