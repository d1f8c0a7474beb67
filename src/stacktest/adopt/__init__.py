"""``stacktest init``: settings proposed for a stack that has none, and written when asked.

May import: ``stacktest.adapters``, ``stacktest.stack`` and the base modules.
"""
