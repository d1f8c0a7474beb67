"""HTTP to the services of a stack: the one place stacktest makes httpx clients.

Every client talks to addresses of the stack (loopback, or the engine's host), so none of them honours
HTTP_PROXY and friends (``trust_env=False``): a proxy would see the admin token, and probes through it
fail until the deadline. Timeouts are named here, per use.
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["ADMIN_TIMEOUT", "PROBE_TIMEOUT", "TEST_TIMEOUT", "async_client", "client"]

PROBE_TIMEOUT = 0.5  # a readiness probe: the next one follows within milliseconds
ADMIN_TIMEOUT = 30.0  # cleanup's list and delete calls to a service's own API
TEST_TIMEOUT = 10.0  # the plugin's clients, for the tests (a test may pass its own)


def client(timeout: float, **kwargs: Any) -> httpx.Client:
    kwargs.setdefault("trust_env", False)
    return httpx.Client(timeout=timeout, **kwargs)


def async_client(timeout: float, **kwargs: Any) -> httpx.AsyncClient:
    kwargs.setdefault("trust_env", False)
    return httpx.AsyncClient(timeout=timeout, **kwargs)
