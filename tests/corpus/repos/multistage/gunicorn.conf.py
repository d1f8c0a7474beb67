# gunicorn settings of the image (read with `gunicorn -c /srv/gunicorn.conf.py`)
import multiprocessing
import os

bind = "0.0.0.0:" + os.environ.get("PORT", "8000")
workers = int(os.environ.get("WEB_CONCURRENCY", min(2, multiprocessing.cpu_count())))
worker_class = "gthread"
threads = 4
timeout = 30
accesslog = "-"
errorlog = "-"
wsgi_app = "shop.wsgi:app"


def post_fork(server, worker):
    server.log.info("worker %s ready", worker.pid)
