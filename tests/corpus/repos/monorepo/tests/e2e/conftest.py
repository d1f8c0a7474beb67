import uuid

import httpx
import pytest


@pytest.fixture
def users(stack):
    with httpx.Client(base_url=stack.url("users"), timeout=10) as client:
        yield client


@pytest.fixture
def orders(stack):
    with httpx.Client(base_url=stack.url("orders"), timeout=10) as client:
        yield client


@pytest.fixture
def customer(users):
    """A new user, for one test."""
    response = users.post(
        "/users", json={"email": f"e2e-{uuid.uuid4().hex[:8]}@example.com", "name": "E2E"}
    )
    assert response.status_code == 201, response.text
    return response.json()
