"""The shop's catalogue: prices in cents."""

CATALOGUE = {
    "mug": {"name": "Mug", "price_cents": 1200},
    "tee": {"name": "T-shirt", "price_cents": 2500},
    "sticker": {"name": "Sticker", "price_cents": 300},
}


def total_cents(lines: list[dict]) -> int:
    return sum(CATALOGUE[line["sku"]]["price_cents"] * line["quantity"] for line in lines)


def unknown_skus(lines: list[dict]) -> list[str]:
    return sorted({line["sku"] for line in lines if line["sku"] not in CATALOGUE})
