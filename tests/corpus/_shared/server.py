"""The service every stack of the corpus runs: standard library only, and no signal handling at all
(the hardest case for coverage: as PID 1 it ignores SIGTERM unless someone installs a handler)."""

import importlib
import json
import os
import socket
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LISTENING_AT = 0.0


def reached():
    return "reached"


def never_called():
    return "the tests never call this: it must show as missed"


def spawn_worker():
    """Start a second Python process (it must be measured too)."""
    worker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")
    done = subprocess.run([sys.executable, worker], capture_output=True, text=True, timeout=30, check=True)
    return done.stdout.strip()


def lose_a_helper():
    """Start a Python process that runs code and dies by SIGKILL before it can save its data, as a
    worker killed by the OOM killer or a worker timeout does."""
    code = "import os, signal\nvalue = sum(range(10))\nos.kill(os.getpid(), signal.SIGKILL)\n"
    return subprocess.run([sys.executable, "-c", code], timeout=30, check=False).returncode


def answer(path):
    if path == "/health":
        return {"status": "ok"}
    if path == "/reached":
        return {"result": reached()}
    if path == "/started":
        return {"listening_at": LISTENING_AT, "pid": os.getpid(), "host": socket.gethostname()}
    if path == "/whoami":
        return {"uid": os.getuid()}
    if path == "/python":
        return {"version": list(sys.version_info[:2])}
    if path == "/spawn":
        return {"result": spawn_worker()}
    if path == "/lose-a-helper":
        return {"returncode": lose_a_helper()}
    if path == "/coverage-core":  # which core the spy started coverage with (None: not measured)
        try:
            import coverage
        except ImportError:
            return {"core": None}
        cov = coverage.Coverage.current()
        return {"core": dict(cov.sys_info()).get("core") if cov is not None else None}
    if path.startswith("/env/"):
        return {"value": os.environ.get(path[len("/env/") :])}
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = answer(self.path)
        data = json.dumps(body).encode()
        self.send_response(404 if body is None else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def main():
    global LISTENING_AT
    for name in filter(None, os.environ.get("PRELOAD", "").split(",")):
        importlib.import_module(name)  # a module the image provides: a crash here fails readiness
    time.sleep(float(os.environ.get("START_DELAY", "0.5")))
    server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8000"))), Handler)
    LISTENING_AT = time.time()
    print("listening on", server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
