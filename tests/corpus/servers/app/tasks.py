"""The Celery application: a worker with the prefork pool runs `work` in one of its pool's children."""

import os

from celery import Celery

app = Celery("tasks", broker=os.environ["REDIS_URL"], backend=os.environ["REDIS_URL"])
app.conf.broker_connection_retry_on_startup = True


def reached_celery_prefork():
    kind = "prefork"
    pid = os.getpid()
    served = {"shape": "celery_prefork", "kind": kind}
    served["pid"] = pid
    return served


def never_celery_prefork():
    kind = "never"
    served = {"shape": "celery_prefork", "kind": kind}
    served["pid"] = os.getpid()
    return served


@app.task
def work():
    return reached_celery_prefork()
