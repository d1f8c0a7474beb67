"""Cleanup of test data the tests left in real services: the name rule and the backends.

May import: ``stacktest.adapters``, ``stacktest.stack`` and the base modules.
"""
