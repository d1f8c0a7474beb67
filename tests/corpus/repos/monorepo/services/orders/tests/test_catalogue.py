from app.catalogue import total_cents, unknown_skus


def test_total_is_price_times_quantity():
    assert total_cents([{"sku": "mug", "quantity": 2}, {"sku": "sticker", "quantity": 1}]) == 2700


def test_unknown_skus_are_named_once():
    assert unknown_skus([{"sku": "hat", "quantity": 1}, {"sku": "hat", "quantity": 2}]) == ["hat"]
