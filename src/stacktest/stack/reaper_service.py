"""The reaper: a small program that runs in a container on the engine (with the engine's API socket
mounted) and removes a run's stack when the run's lease ends without an orderly teardown, in the manner
of testcontainers' Ryuk. Standard library only: it runs with whatever python3 the reaper's image has
(3.7 and later), started as ``python3 -c <this file's text> GRACE IDLE``.

The protocol, one line each way per message, over a TCP connection that *is* the lease:

- ``LEASE <token>`` -> ``ACK``: the resources (containers, networks, volumes) labelled
  ``io.stacktest.token=<token>`` belong to this connection's run.
- ``DONE`` -> ``ACK``: the run removed its stack itself; nothing to do when the connection ends.
- ``KEEP <seconds>`` -> ``ACK``: the run keeps its stack (``stacktest up``): remove it that many seconds
  from now (``0``: never; ``stacktest down`` removes it).

A connection that ends otherwise (the run was killed: its kernel closed the socket) has its stack
removed ``GRACE`` seconds later, and looked for once more ``AGAIN`` seconds after that when the first
sweep found something (a compose process of the dead run may have gone on creating). With no
connection and nothing scheduled for ``IDLE`` seconds, the reaper exits, and the engine removes its
container (auto-remove).
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import sys
import threading
import time
import urllib.parse

SOCKET = "/var/run/docker.sock"
PORT = 8080
AGAIN = 5.0  # seconds from a sweep that removed something to the last one (the dead run's compose)
TOKEN_LABEL = "io.stacktest.token"  # noqa: S105 - a label key, not a secret
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self) -> None:
        super().__init__("localhost", timeout=30)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(SOCKET)


def _api(method: str, path: str) -> tuple[int, object]:
    conn = _UnixHTTP()
    try:
        conn.request(method, path)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(body) if body else None
    except ValueError:
        return response.status, None


def remove(token: str) -> tuple[int, int, int]:
    """Remove every container, network and volume labelled with ``token``; how many of each."""
    query = urllib.parse.quote(json.dumps({"label": [TOKEN_LABEL + "=" + token]}))
    counts = [0, 0, 0]
    _, found = _api("GET", "/containers/json?all=1&filters=" + query)
    for c in found if isinstance(found, list) else []:
        status, _ = _api("DELETE", "/containers/" + c["Id"] + "?force=1&v=1")
        counts[0] += status in (204, 404)
    _, found = _api("GET", "/networks?filters=" + query)
    for n in found if isinstance(found, list) else []:
        status, _ = _api("DELETE", "/networks/" + n["Id"])
        counts[1] += status in (204, 404)
    _, found = _api("GET", "/volumes?filters=" + query)
    volumes = found.get("Volumes") if isinstance(found, dict) else None
    for v in volumes or []:
        for _attempt in range(5):  # a removed container may still hold it for a moment
            status, _ = _api("DELETE", "/volumes/" + urllib.parse.quote(v["Name"]) + "?force=1")
            if status in (204, 404):
                counts[2] += 1
                break
            time.sleep(0.2)
    return counts[0], counts[1], counts[2]


class Reaper:
    def __init__(self, grace: float, idle: float) -> None:
        self.grace, self.idle = grace, idle
        self.lock = threading.Lock()
        self.connections = 0
        self.due: dict[str, float] = {}  # token -> when to remove its resources
        self.swept: set[str] = set()  # tokens swept once already
        self.quiet_since = time.monotonic()

    def serve(self, conn: socket.socket) -> None:
        tokens: list[str] = []
        ended_well = False
        with self.lock:
            self.connections += 1
        try:
            for line in conn.makefile("r", encoding="ascii", errors="replace"):
                word, _, arg = line.strip().partition(" ")
                if word == "LEASE" and _TOKEN.match(arg):
                    tokens.append(arg)
                    with self.lock:
                        self.due.pop(arg, None)
                elif word == "DONE":
                    ended_well = True
                elif word == "KEEP":
                    try:
                        ttl = float(arg)
                    except ValueError:
                        ttl = -1.0
                    if ttl < 0:
                        conn.sendall(b"ERR KEEP needs seconds\n")
                        continue
                    with self.lock:
                        for t in tokens:
                            if ttl > 0:
                                self.due[t] = time.monotonic() + ttl
                    ended_well = True
                else:
                    conn.sendall(b"ERR unknown\n")
                    continue
                conn.sendall(b"ACK\n")
        except OSError:
            pass
        finally:
            conn.close()
            with self.lock:
                self.connections -= 1
                if not ended_well:
                    for t in tokens:
                        self.due[t] = time.monotonic() + self.grace
                self.quiet_since = time.monotonic()

    def sweep(self) -> bool:
        """Remove what is due; False when the reaper has had nothing to do for ``idle`` seconds."""
        now = time.monotonic()
        with self.lock:
            ready = [t for t, at in self.due.items() if at <= now]
            for t in ready:
                del self.due[t]
        for t in ready:
            try:
                c, n, v = remove(t)
            except OSError as exc:
                print(f"could not remove {t[:6]}...: {exc}", flush=True)
                c = n = v = 1  # look again
            if c + n + v and t not in self.swept:  # once more: a compose of the dead run may still create
                self.swept.add(t)
                with self.lock:
                    self.due.setdefault(t, time.monotonic() + AGAIN)
            print(f"removed {t[:6]}...: {c} containers, {n} networks, {v} volumes", flush=True)
        with self.lock:
            if self.connections or self.due or ready:
                self.quiet_since = time.monotonic()
                return True
            return time.monotonic() - self.quiet_since < self.idle


def main(argv: list[str]) -> int:
    reaper = Reaper(float(argv[0]) if argv else 1.0, float(argv[1]) if len(argv) > 1 else 5.0)
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", PORT))  # noqa: S104 - in its container; the engine publishes the port
    server.listen(64)
    server.settimeout(0.2)
    print(f"reaper: listening on {PORT} (grace {reaper.grace:g}s, idle {reaper.idle:g}s)", flush=True)
    while reaper.sweep():
        try:
            conn, _ = server.accept()
        except OSError:  # socket.timeout (an OSError on every Python 3 the image may have)
            continue
        conn.settimeout(None)
        threading.Thread(target=reaper.serve, args=(conn,), daemon=True).start()
    print("reaper: idle, exiting", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
