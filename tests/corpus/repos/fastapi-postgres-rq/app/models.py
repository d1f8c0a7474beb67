from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer: Mapped[str] = mapped_column(String(100))
    items: Mapped[list] = mapped_column(JSON)
    coupon: Mapped[str | None] = mapped_column(String(20), default=None)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    total_cents: Mapped[int | None] = mapped_column(default=None)

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "customer": self.customer,
            "items": self.items,
            "status": self.status,
            "total_cents": self.total_cents,
        }
