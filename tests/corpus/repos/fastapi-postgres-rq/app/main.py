from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, HTTPException
from redis import Redis
from rq import Queue
from sqlalchemy.orm import Session

from app.config import REDIS_URL
from app.db import get_session, init_db
from app.jobs import price_order
from app.models import Order
from app.schemas import OrderIn

queue = Queue(connection=Redis.from_url(REDIS_URL))


@asynccontextmanager
async def lifespan(app: FastAPI):
    init_db()
    yield


app = FastAPI(title="orders-service", lifespan=lifespan)


@app.get("/healthz")
async def healthz():
    return {"status": "ok"}


@app.post("/orders", status_code=201)
def create_order(payload: OrderIn, session: Session = Depends(get_session)):
    order = Order(
        customer=payload.customer,
        items=[item.model_dump() for item in payload.items],
        coupon=payload.coupon,
    )
    session.add(order)
    session.commit()
    queue.enqueue(price_order, order.id)
    return order.as_dict()


@app.get("/orders/{order_id}")
def read_order(order_id: int, session: Session = Depends(get_session)):
    order = session.get(Order, order_id)
    if order is None:
        raise HTTPException(status_code=404, detail="order not found")
    return order.as_dict()


def cancel_order(order_id: int, session: Session) -> None:
    # kept for the admin tool; not exposed over HTTP yet
    order = session.get(Order, order_id)
    order.status = "cancelled"
    session.commit()
