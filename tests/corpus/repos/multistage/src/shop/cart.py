"""Carts: the client keeps its cart; the storefront prices it."""

from __future__ import annotations

from shop.pricing import discounted, gross

PRODUCTS = {"book": 1500, "pen": 250, "lamp": 4200}


class UnknownProduct(KeyError):
    pass


def net_cents(items: dict[str, int]) -> int:
    unknown = sorted(set(items) - set(PRODUCTS))
    if unknown:
        raise UnknownProduct(", ".join(unknown))
    return sum(PRODUCTS[p] * int(q) for p, q in items.items())


def summary(items: dict[str, int], code: str | None = None) -> dict:
    net = discounted(net_cents(items), code)
    total = gross(net)
    return {"items": items, "net_cents": net, "total_cents": total.cents, "total": str(total)}


def restock_report() -> dict[str, int]:
    # the warehouse's nightly job; the storefront never calls it
    return {product: 0 for product in sorted(PRODUCTS)}
