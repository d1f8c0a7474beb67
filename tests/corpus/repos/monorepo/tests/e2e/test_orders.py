import pytest

pytestmark = pytest.mark.e2e


def test_an_order_is_priced_from_the_catalogue(orders, customer):
    response = orders.post(
        "/orders",
        json={
            "user_id": customer["id"],
            "lines": [{"sku": "mug", "quantity": 2}, {"sku": "tee", "quantity": 1}],
        },
    )
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["total_cents"] == 2 * 1200 + 2500
    assert orders.get(f"/orders/{order['id']}").json() == order


def test_an_order_for_an_unknown_user_is_refused(orders):
    response = orders.post(
        "/orders", json={"user_id": 999999, "lines": [{"sku": "mug", "quantity": 1}]}
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "no user 999999"


def test_an_unknown_product_is_refused(orders, customer):
    response = orders.post(
        "/orders", json={"user_id": customer["id"], "lines": [{"sku": "hat", "quantity": 1}]}
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "unknown products: hat"


def test_a_missing_order_is_404(orders):
    assert orders.get("/orders/999999").status_code == 404
