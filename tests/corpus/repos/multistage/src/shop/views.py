from flask import Blueprint, jsonify, request

from shop import __version__, cart

bp = Blueprint("shop", __name__)


@bp.get("/healthz")
def healthz():
    return {"status": "ok", "version": __version__}


@bp.get("/products")
def products():
    return jsonify([{"name": name, "net_cents": cents} for name, cents in sorted(cart.PRODUCTS.items())])


@bp.post("/quote")
def quote():
    body = request.get_json(force=True)
    try:
        return jsonify(cart.summary(body["items"], body.get("code")))
    except cart.UnknownProduct as exc:
        return jsonify(error=f"unknown product: {exc.args[0]}"), 404


@bp.get("/admin/restock")
def restock():
    return jsonify(cart.restock_report())
