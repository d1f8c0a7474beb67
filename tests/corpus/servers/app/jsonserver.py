"""A standard-library HTTP server that answers GET requests with JSON (for the stdlib services)."""

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def serve(answer, port=8000):
    """Serve ``answer(path)`` (a JSON-able object, or None for 404) on ``port`` until the process ends."""

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

    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    print("listening on", server.server_address[1], flush=True)
    server.serve_forever()
