"""A Flask application run by `flask run --debug`: werkzeug's reloader (PID 1) restarts this program
in a child process, which serves."""

import os

from flask import Flask, abort

app = Flask(__name__)


def reached_flask_debug():
    kind = "debug"
    pid = os.getpid()
    served = {"shape": "flask_debug", "kind": kind}
    served["pid"] = pid
    return served


def never_flask_debug():
    kind = "never"
    served = {"shape": "flask_debug", "kind": kind}
    served["pid"] = os.getpid()
    return served


@app.get("/health")
def health():
    return {"status": "ok"}


@app.get("/reached/<shape>")
def reached(shape):
    if shape != "flask_debug":
        abort(404)
    return reached_flask_debug()
