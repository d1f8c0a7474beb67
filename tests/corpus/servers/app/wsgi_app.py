"""The WSGI application of the four gunicorn shapes (sync, gthread, --preload, --max-requests): each
request is served in a worker process the arbiter (PID 1) forked."""

import json
import os


def reached_gunicorn_sync():
    kind = "sync"
    pid = os.getpid()
    served = {"shape": "gunicorn_sync", "kind": kind}
    served["pid"] = pid
    return served


def never_gunicorn_sync():
    kind = "never"
    served = {"shape": "gunicorn_sync", "kind": kind}
    served["pid"] = os.getpid()
    return served


def reached_gunicorn_gthread():
    kind = "gthread"
    pid = os.getpid()
    served = {"shape": "gunicorn_gthread", "kind": kind}
    served["pid"] = pid
    return served


def never_gunicorn_gthread():
    kind = "never"
    served = {"shape": "gunicorn_gthread", "kind": kind}
    served["pid"] = os.getpid()
    return served


def reached_gunicorn_preload():
    kind = "preload"
    pid = os.getpid()
    served = {"shape": "gunicorn_preload", "kind": kind}
    served["pid"] = pid
    return served


def never_gunicorn_preload():
    kind = "never"
    served = {"shape": "gunicorn_preload", "kind": kind}
    served["pid"] = os.getpid()
    return served


def reached_gunicorn_recycle():
    kind = "recycle"
    pid = os.getpid()
    served = {"shape": "gunicorn_recycle", "kind": kind}
    served["pid"] = pid
    return served


def never_gunicorn_recycle():
    kind = "never"
    served = {"shape": "gunicorn_recycle", "kind": kind}
    served["pid"] = os.getpid()
    return served


REACHED = {
    "gunicorn_sync": reached_gunicorn_sync,
    "gunicorn_gthread": reached_gunicorn_gthread,
    "gunicorn_preload": reached_gunicorn_preload,
    "gunicorn_recycle": reached_gunicorn_recycle,
}


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    shape = path[len("/reached/") :] if path.startswith("/reached/") else None
    if path == "/health":
        body, status = {"status": "ok"}, "200 OK"
    elif shape in REACHED:
        body, status = REACHED[shape](), "200 OK"
    else:
        body, status = {"error": "not found"}, "404 Not Found"
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]
