from flask import Flask


def create_app() -> Flask:
    app = Flask("shop")

    from shop.views import bp

    app.register_blueprint(bp)
    return app
