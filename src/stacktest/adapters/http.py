"""HTTP to the services of a stack: the one place stacktest makes httpx clients.

Every client talks to addresses of the stack (loopback, or the engine's host), so none of them honours
HTTP_PROXY and friends (``trust_env=False``): a proxy would see the admin token, and probes through it
fail until the deadline. Timeouts are named here, per use.

All clients of a process share one TLS context (certificates verified, as httpx does by default):
httpx builds a new one for every client otherwise, loading the CA bundle each time, which costs ~30 ms
of CPU per client, and a test that makes two clients would spend most of its time there.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any

import httpx

__all__ = ["ADMIN_TIMEOUT", "PROBE_TIMEOUT", "TEST_TIMEOUT", "async_client", "client", "tls_context"]

PROBE_TIMEOUT = 0.5  # a readiness probe: the next one follows within milliseconds
ADMIN_TIMEOUT = 30.0  # cleanup's list and delete calls to a service's own API
TEST_TIMEOUT = 10.0  # the plugin's clients, for the tests (a test may pass its own)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS context every client of this process shares: httpx's default (certifi's CA bundle)."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def client(timeout: float, **kwargs: Any) -> httpx.Client:
    kwargs.setdefault("trust_env", False)
    kwargs.setdefault("verify", tls_context())
    return httpx.Client(timeout=timeout, **kwargs)


def async_client(timeout: float, **kwargs: Any) -> httpx.AsyncClient:
    kwargs.setdefault("trust_env", False)
    kwargs.setdefault("verify", tls_context())
    return httpx.AsyncClient(timeout=timeout, **kwargs)
