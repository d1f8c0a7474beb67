from shop.pricing import discounted, gross


def test_gross_adds_vat(monkeypatch):
    monkeypatch.setenv("SHOP_VAT_PERCENT", "20")
    monkeypatch.setenv("SHOP_CURRENCY", "EUR")
    assert str(gross(1000)) == "12.00 EUR"


def test_unknown_codes_change_nothing():
    assert discounted(1000, "NOPE") == 1000
    assert discounted(1000, "welcome10") == 900
