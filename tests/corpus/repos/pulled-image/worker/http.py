"""The worker's HTTP interface (standard library only): `python -m worker.http`.

POST /jobs {"kind": ..., "payload": {...}} -> 202 {"id": ...}; GET /jobs/<id>; GET /health.
"""

from __future__ import annotations

import json
import logging
import os
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from worker import jobs
from worker.queue import JobQueue

log = logging.getLogger("worker")
QUEUE: JobQueue | None = None


class Handler(BaseHTTPRequestHandler):
    server_version = "worker/1.0"

    def _reply(self, status: HTTPStatus, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._reply(HTTPStatus.OK, {"status": "ok"})
        elif self.path.startswith("/jobs/"):
            job = QUEUE.get(self.path.removeprefix("/jobs/"))
            if job is None:
                self._reply(HTTPStatus.NOT_FOUND, {"error": "no such job"})
            else:
                self._reply(HTTPStatus.OK, job)
        else:
            self._reply(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def do_POST(self) -> None:
        if self.path != "/jobs":
            self._reply(HTTPStatus.NOT_FOUND, {"error": "not found"})
            return
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        try:
            job = QUEUE.submit(body.get("kind", ""), body.get("payload", {}))
        except jobs.UnknownKind as exc:
            self._reply(HTTPStatus.BAD_REQUEST, {"error": f"unknown kind: {exc}"})
            return
        self._reply(HTTPStatus.ACCEPTED, job)

    def log_message(self, format: str, *args) -> None:
        log.info("%s %s", self.address_string(), format % args)


def main() -> None:
    global QUEUE
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    QUEUE = JobQueue(int(os.environ.get("WORKER_THREADS", "2")))
    port = int(os.environ.get("WORKER_PORT", "8080"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    log.info("worker listening on %s", port)
    server.serve_forever()


if __name__ == "__main__":
    main()
