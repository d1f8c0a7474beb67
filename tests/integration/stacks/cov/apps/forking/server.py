"""A forking server: each request is handled in a child that ends with os._exit (socketserver's way)."""

import os
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ForkingMixIn


class ForkingHTTPServer(ForkingMixIn, HTTPServer):
    pass


def handled_in_child():
    return "child %d of %d" % (os.getpid(), os.getppid())


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok" if self.path == "/health" else handled_in_child().encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ForkingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
