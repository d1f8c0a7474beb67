"""PID 1, no signal handling at all: SIGTERM is ignored unless someone installs a handler."""

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def classify(n):
    if n < 0:
        return "negative"
    if n == 0:
        return "zero"
    return "positive"


def never_called():
    return "this line must show as missed"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            body = b"ok"
        else:
            body = classify(int(self.path.rsplit("/", 1)[-1])).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
