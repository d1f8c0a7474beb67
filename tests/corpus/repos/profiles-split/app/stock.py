"""Stock rules, apart from the database so that they can be unit tested."""

from __future__ import annotations


class NotEnoughStock(ValueError):
    def __init__(self, sku: str, have: int, want: int) -> None:
        super().__init__(f"{sku}: {have} in stock, {want} requested")


def after_move(sku: str, have: int, delta: int) -> int:
    if have + delta < 0:
        raise NotEnoughStock(sku, have, -delta)
    return have + delta


def needs_reorder(quantity: int, threshold: int = 5) -> bool:
    return quantity <= threshold
