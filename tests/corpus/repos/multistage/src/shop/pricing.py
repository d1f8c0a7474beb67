"""Prices: net amounts in cents, VAT and currency from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Money:
    cents: int
    currency: str

    def __str__(self) -> str:
        return f"{self.cents / 100:.2f} {self.currency}"


def vat_percent() -> int:
    return int(os.environ.get("SHOP_VAT_PERCENT", "20"))


def currency() -> str:
    return os.environ.get("SHOP_CURRENCY", "EUR")


def gross(net_cents: int) -> Money:
    return Money(round(net_cents * (100 + vat_percent()) / 100), currency())


def discounted(net_cents: int, code: str | None) -> int:
    """The net price after a discount code (unknown codes change nothing)."""
    percent = {"WELCOME10": 10, "STAFF30": 30}.get((code or "").upper(), 0)
    return net_cents - net_cents * percent // 100
