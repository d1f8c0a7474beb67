"""Integration tests: the API, the queue and the worker, against the running stack."""

import time

import httpx
import pytest


@pytest.fixture
def client(stack):
    with httpx.Client(base_url=stack.url("api"), timeout=10) as c:
        yield c


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_an_order_is_priced_by_the_worker(client):
    response = client.post(
        "/orders",
        json={
            "customer": "ada",
            "items": [
                {"sku": "book", "quantity": 2, "unit_price_cents": 1250},
                {"sku": "pen", "quantity": 1, "unit_price_cents": 500},
            ],
            "coupon": "WELCOME10",
        },
    )
    assert response.status_code == 201
    order_id = response.json()["id"]

    deadline = time.monotonic() + 60
    order = client.get(f"/orders/{order_id}").json()
    while order["status"] != "priced" and time.monotonic() < deadline:
        time.sleep(0.2)
        order = client.get(f"/orders/{order_id}").json()
    assert order["status"] == "priced"
    assert order["total_cents"] == 2700


def test_an_order_needs_items(client):
    response = client.post("/orders", json={"customer": "ada", "items": []})
    assert response.status_code == 422


def test_missing_order(client):
    assert client.get("/orders/987654").status_code == 404
