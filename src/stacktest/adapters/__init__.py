"""Adapters: one module per external system, and the only code that talks to it.

``engine`` (the Docker Engine API), ``compose`` (the compose command), ``process`` (every subprocess),
``http`` (httpx clients and their timeouts), ``images`` (the offline base image and wheels).

May import: ``stacktest.errors``, ``stacktest.settings``, ``stacktest.state``, ``stacktest.signals``.
"""
