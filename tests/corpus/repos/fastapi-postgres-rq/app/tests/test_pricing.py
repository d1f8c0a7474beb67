from app.pricing import order_total


def test_total_without_coupon():
    items = [{"sku": "a", "quantity": 2, "unit_price_cents": 250}]
    assert order_total(items) == 500


def test_coupon_discount():
    items = [{"sku": "a", "quantity": 1, "unit_price_cents": 999}]
    assert order_total(items, "WELCOME10") == 900


def test_unknown_coupon_is_ignored():
    items = [{"sku": "a", "quantity": 1, "unit_price_cents": 100}]
    assert order_total(items, "NOPE") == 100
