"""The storefront as a client sees it: against the running stack (`docker compose up`)."""

import httpx
import pytest


@pytest.fixture
def api(stack):
    with httpx.Client(base_url=stack.url("web"), timeout=10) as client:
        yield client


def test_health_names_the_installed_version(api):
    assert api.get("/healthz").json() == {"status": "ok", "version": "1.4.0"}


def test_the_products_are_listed(api):
    assert [p["name"] for p in api.get("/products").json()] == ["book", "lamp", "pen"]


def test_a_quote_adds_vat_after_the_discount(api):
    quote = api.post("/quote", json={"items": {"book": 2}, "code": "WELCOME10"}).json()
    assert quote["net_cents"] == 2700
    assert quote["total"] == "32.40 EUR"


def test_a_quote_without_a_code(api):
    quote = api.post("/quote", json={"items": {"pen": 3}}).json()
    assert quote["total_cents"] == 900


def test_an_unknown_product_is_404(api):
    response = api.post("/quote", json={"items": {"sofa": 1}})
    assert response.status_code == 404
    assert response.json() == {"error": "unknown product: sofa"}
