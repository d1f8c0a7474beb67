"""Closing registration changes what every other test sees: this must run alone."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from stacktest.plugin import CleanupTracker
from tests.stack import helpers

pytestmark = [pytest.mark.integration, pytest.mark.auth, pytest.mark.serial]

ADMIN = {"Authorization": f"Bearer {helpers.ADMIN_TOKEN}"}


def _set_open(auth: httpx.Client, value: bool) -> None:
    response = auth.put("/admin/registration", json={"open": value}, headers=ADMIN)
    assert response.status_code == 200
    assert response.json() == {"open": value}


def test_closed_registration_refuses_new_clients(
    auth_client: httpx.Client, unique_name: Callable[[str], str], cleanup: CleanupTracker
) -> None:
    _set_open(auth_client, False)
    cleanup.add(_set_open, auth_client, True)
    response = auth_client.post(
        "/register", json={"client_name": unique_name("closed"), "redirect_uris": [helpers.REDIRECT_URI]}
    )
    assert response.status_code == 403
    assert response.json()["error"] == "access_denied"


def test_admin_endpoints_need_the_admin_token(auth_client: httpx.Client) -> None:
    assert auth_client.put("/admin/registration", json={"open": False}).status_code == 401
    assert auth_client.get("/admin/clients", headers={"Authorization": "Bearer nope"}).status_code == 401
