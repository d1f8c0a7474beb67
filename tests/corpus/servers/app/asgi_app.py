"""A bare ASGI application for uvicorn (one process, --workers 2, --reload) and hypercorn."""

import json
import os


def reached_uvicorn_single():
    kind = "single"
    pid = os.getpid()
    served = {"shape": "uvicorn_single", "kind": kind}
    served["pid"] = pid
    return served


def never_uvicorn_single():
    kind = "never"
    served = {"shape": "uvicorn_single", "kind": kind}
    served["pid"] = os.getpid()
    return served


def reached_uvicorn_workers():
    kind = "workers"
    pid = os.getpid()
    served = {"shape": "uvicorn_workers", "kind": kind}
    served["pid"] = pid
    return served


def never_uvicorn_workers():
    kind = "never"
    served = {"shape": "uvicorn_workers", "kind": kind}
    served["pid"] = os.getpid()
    return served


def reached_uvicorn_reload():
    kind = "reload"
    pid = os.getpid()
    served = {"shape": "uvicorn_reload", "kind": kind}
    served["pid"] = pid
    return served


def never_uvicorn_reload():
    kind = "never"
    served = {"shape": "uvicorn_reload", "kind": kind}
    served["pid"] = os.getpid()
    return served


def reached_hypercorn():
    kind = "hypercorn"
    pid = os.getpid()
    served = {"shape": "hypercorn", "kind": kind}
    served["pid"] = pid
    return served


def never_hypercorn():
    kind = "never"
    served = {"shape": "hypercorn", "kind": kind}
    served["pid"] = os.getpid()
    return served


REACHED = {
    "uvicorn_single": reached_uvicorn_single,
    "uvicorn_workers": reached_uvicorn_workers,
    "uvicorn_reload": reached_uvicorn_reload,
    "hypercorn": reached_hypercorn,
}


async def lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    path = scope["path"]
    shape = path[len("/reached/") :] if path.startswith("/reached/") else None
    if path == "/health":
        body, status = {"status": "ok"}, 200
    elif shape in REACHED:
        body, status = REACHED[shape](), 200
    else:
        body, status = {"error": "not found"}, 404
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
