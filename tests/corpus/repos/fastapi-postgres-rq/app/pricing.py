COUPONS = {"WELCOME10": 10, "HALF": 50}


def order_total(items: list[dict], coupon: str | None = None) -> int:
    """The order's total in cents, after the coupon's discount (rounded down)."""
    subtotal = sum(item["quantity"] * item["unit_price_cents"] for item in items)
    percent = COUPONS.get(coupon or "", 0)
    return subtotal - subtotal * percent // 100
