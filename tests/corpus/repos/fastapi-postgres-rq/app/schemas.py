from pydantic import BaseModel, Field


class Item(BaseModel):
    sku: str
    quantity: int = Field(gt=0)
    unit_price_cents: int = Field(ge=0)


class OrderIn(BaseModel):
    customer: str
    items: list[Item] = Field(min_length=1)
    coupon: str | None = None
