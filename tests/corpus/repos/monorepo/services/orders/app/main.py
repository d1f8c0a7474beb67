import json
import os
from typing import Annotated

import redis.asyncio as redis
from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, Field

from app import users
from app.catalogue import CATALOGUE, total_cents, unknown_skus

app = FastAPI(title="orders")
pool = redis.ConnectionPool.from_url(
    os.environ.get("REDIS_URL", "redis://localhost:6379/1"), decode_responses=True
)


def get_redis() -> redis.Redis:
    return redis.Redis(connection_pool=pool)


Redis = Annotated[redis.Redis, Depends(get_redis)]


class Line(BaseModel):
    sku: str
    quantity: int = Field(gt=0)


class NewOrder(BaseModel):
    user_id: int
    lines: list[Line] = Field(min_length=1)


@app.get("/health")
async def health(r: Redis):
    await r.ping()
    return {"status": "ok"}


@app.get("/catalogue")
async def catalogue():
    return [{"sku": sku, **item} for sku, item in sorted(CATALOGUE.items())]


@app.post("/orders", status_code=201)
async def create_order(order: NewOrder, r: Redis):
    lines = [line.model_dump() for line in order.lines]
    unknown = unknown_skus(lines)
    if unknown:
        raise HTTPException(422, detail=f"unknown products: {', '.join(unknown)}")
    if not await users.user_exists(order.user_id):
        raise HTTPException(422, detail=f"no user {order.user_id}")
    order_id = await r.incr("orders:next-id")
    record = {
        "id": order_id,
        "user_id": order.user_id,
        "lines": lines,
        "total_cents": total_cents(lines),
    }
    await r.set(f"order:{order_id}", json.dumps(record))
    return record


@app.get("/orders/{order_id}")
async def get_order(order_id: int, r: Redis):
    found = await r.get(f"order:{order_id}")
    if found is None:
        raise HTTPException(404, detail="no such order")
    return json.loads(found)


@app.post("/orders/{order_id}/cancel")
async def cancel_order(order_id: int, r: Redis):
    # only the support team's tool cancels orders
    found = await r.get(f"order:{order_id}")
    if found is None:
        raise HTTPException(404, detail="no such order")
    record = json.loads(found) | {"cancelled": True}
    await r.set(f"order:{order_id}", json.dumps(record))
    return record
