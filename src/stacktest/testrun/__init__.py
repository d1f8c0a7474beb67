"""Test runs: the xdist modes and the phase plan (``runner``), JUnit XML reading and merging
(``junit``), and shards (``shards``).

May import: ``stacktest.adapters`` and the base modules.
"""
