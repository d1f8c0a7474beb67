from flask import Blueprint, abort, current_app, g, jsonify, request

from users.store import EmailTaken, UserStore
from users.validation import problems

bp = Blueprint("users", __name__)


def store() -> UserStore:
    if "store" not in g:
        g.store = UserStore.from_url(current_app.config["REDIS_URL"])
    return g.store


@bp.get("/health")
def health():
    store().ping()
    return {"status": "ok"}


@bp.post("/users")
def create_user():
    payload = request.get_json(silent=True) or {}
    errors = problems(payload)
    if errors:
        return jsonify(errors=errors), 400
    try:
        user = store().add(payload["email"], payload["name"].strip())
    except EmailTaken:
        return jsonify(errors=["email: already registered"]), 409
    return jsonify(user), 201


@bp.get("/users/<int:user_id>")
def get_user(user_id: int):
    user = store().get(user_id)
    if user is None:
        abort(404)
    return jsonify(user)


@bp.delete("/users/<int:user_id>")
def delete_user(user_id: int):
    # GDPR erasure: called by the back office, never by the shop itself
    if not store().remove(user_id):
        abort(404)
    return "", 204
