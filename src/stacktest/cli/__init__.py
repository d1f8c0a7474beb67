"""The command line: the commands (``app``, and ``coverage`` for the coverage and junit groups), what they
share (``options``), rendering (``render``), the exception boundary (``boundary``) and the entry point
(``entry``). The only package that prints.

May import: ``stacktest.commands`` and everything below it, never ``stacktest.plugin``.
"""
