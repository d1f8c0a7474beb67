"""The command line: parsing (``app``), rendering (``render``) and the entry point (``entry``). The
only package that prints.

May import: ``stacktest.commands`` and everything below it, never ``stacktest.plugin``.
"""
