import os

from celery import Celery, Task
from flask import Flask


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


def create_app(test_config=None) -> Flask:
    app = Flask(__name__)
    redis_url = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
    app.config.from_mapping(
        CELERY=dict(
            broker_url=redis_url,
            result_backend=redis_url,
            task_ignore_result=True,
            broker_connection_retry_on_startup=True,
        ),
    )
    if test_config:
        app.config.from_mapping(test_config)

    celery_init_app(app)

    from . import views

    app.register_blueprint(views.bp)
    return app
