import uuid

import httpx
import pytest


@pytest.fixture(scope="session")
def api(stack):
    with httpx.Client(base_url=stack.url("api"), timeout=10) as client:
        yield client


@pytest.fixture
def sku():
    return "E2E-" + uuid.uuid4().hex[:8].upper()
