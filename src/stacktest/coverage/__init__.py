"""Coverage inside the containers: the spy's overlay and staging (``spy``), asking every measured
process to save and harvesting the data (``harvest``), the per-process ledger (``ledger``), mapping
container paths to the repository (``paths``), and combine and report (``report``).

May import: ``stacktest.adapters`` and the base modules.
"""
