import pytest
from shop.cart import UnknownProduct, net_cents


def test_net_is_price_times_quantity():
    assert net_cents({"book": 1, "pen": 2}) == 2000


def test_unknown_products_are_named():
    with pytest.raises(UnknownProduct):
        net_cents({"sofa": 1})
