"""The users service: accounts of the shop's customers."""

import os

from flask import Flask


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config["REDIS_URL"] = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
    app.config.update(config or {})

    from users import routes

    app.register_blueprint(routes.bp)
    return app
