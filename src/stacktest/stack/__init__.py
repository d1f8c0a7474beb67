"""The stack under test: its lifecycle (prepare, start, attach, teardown, reap), the one readiness
decision, and fault injection for tests (``control``).

May import: ``stacktest.adapters`` and the base modules (errors, settings, state, signals).
"""
