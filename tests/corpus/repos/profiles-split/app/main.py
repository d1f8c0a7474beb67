import os

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from app import db
from app.stock import NotEnoughStock, after_move, needs_reorder

app = FastAPI(title="inventory")


class NewItem(BaseModel):
    sku: str = Field(pattern=r"^[A-Z0-9-]{3,20}$")
    name: str = Field(min_length=1)
    quantity: int = Field(default=0, ge=0)


class Move(BaseModel):
    delta: int


@app.get("/health/")
def health():
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 AS ok")
        cur.fetchone()
    return {"status": "ok", "env": os.environ.get("APP_ENV", "production")}


@app.post("/items/", status_code=201)
def create_item(item: NewItem):
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO items (sku, name, quantity) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING *",
            (item.sku, item.name, item.quantity),
        )
        row = cur.fetchone()
    if row is None:
        raise HTTPException(409, f"{item.sku} exists already")
    return row


@app.get("/items/{sku}")
def read_item(sku: str):
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM items WHERE sku = %s", (sku,))
        row = cur.fetchone()
    if row is None:
        raise HTTPException(404, f"no item {sku}")
    return row | {"reorder": needs_reorder(row["quantity"])}


@app.post("/items/{sku}/moves")
def move_stock(sku: str, move: Move):
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT quantity FROM items WHERE sku = %s FOR UPDATE", (sku,))
        row = cur.fetchone()
        if row is None:
            raise HTTPException(404, f"no item {sku}")
        try:
            quantity = after_move(sku, row["quantity"], move.delta)
        except NotEnoughStock as exc:
            raise HTTPException(409, str(exc)) from None
        cur.execute("UPDATE items SET quantity = %s WHERE sku = %s", (quantity, sku))
        cur.execute("INSERT INTO movements (sku, delta) VALUES (%s, %s)", (sku, move.delta))
    return {"sku": sku, "quantity": quantity}


@app.delete("/items/{sku}")
def retire_item(sku: str):
    # retired items are removed by the year-end stock take, by hand
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM movements WHERE sku = %s", (sku,))
        cur.execute("DELETE FROM items WHERE sku = %s", (sku,))
    return {"retired": sku}
