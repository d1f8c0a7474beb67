"""The command layer: one short function per command, each a sequence of steps (in the manner of
nox's sessions) over the stack, coverage, testrun, cleanup, diagnose and adopt packages. Nothing here
prints: results are returned to the CLI.

May import: every package except ``stacktest.cli`` and ``stacktest.plugin``.
"""
