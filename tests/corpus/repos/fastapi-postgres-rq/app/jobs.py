"""Background jobs, run by `rq worker`."""

import logging

from app.db import SessionLocal
from app.models import Order
from app.pricing import order_total

log = logging.getLogger(__name__)


def price_order(order_id: int) -> int:
    with SessionLocal() as session:
        order = session.get(Order, order_id)
        order.total_cents = order_total(order.items, order.coupon)
        order.status = "priced"
        session.commit()
        log.info("order %s priced at %s", order_id, order.total_cents)
        return order.total_cents


def send_payment_reminders() -> int:
    from sqlalchemy import select

    with SessionLocal() as session:
        unpaid = session.scalars(select(Order).where(Order.status == "priced")).all()
        for order in unpaid:
            log.info("reminding %s about order %s", order.customer, order.id)
        return len(unpaid)
