"""``stacktest diagnose``: why a run failed, as findings with an exit code and machine-readable output.

May import: ``stacktest.adapters``, ``stacktest.stack``, ``stacktest.testrun`` and the base modules.
"""
