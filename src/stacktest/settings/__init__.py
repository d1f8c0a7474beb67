"""Settings, declared once.

Each setting is one :class:`Field` in :data:`FIELDS`: its key in ``[tool.stacktest]``, its type, default,
environment variable and help. ``--set KEY=VALUE`` reaches every field; the few named flags take their
help from the same table (:func:`help_of`), and docs/configuration.md's table is :func:`keys_table`.
Precedence, lowest first:

1. the defaults declared here;
2. ``[tool.stacktest]`` of the project's pyproject.toml (found upwards from the working directory, or
   named by ``--config`` / ``STACKTEST_CONFIG``);
3. ``STACKTEST_*`` environment variables;
4. command-line flags.

Structured tables (``probes``, ``coverage.paths``, ``cleanup.backends``) are read from the file only.
Every error names the key and the file it came from.
"""

from __future__ import annotations

from stacktest.settings.fields import FIELDS, Field, help_of, keys_table
from stacktest.settings.load import find_pyproject, load_settings
from stacktest.settings.model import CleanupBackend, Probe, RelatedKeys, RelatedRows, Settings

__all__ = [
    "FIELDS",
    "CleanupBackend",
    "Field",
    "Probe",
    "RelatedKeys",
    "RelatedRows",
    "Settings",
    "find_pyproject",
    "help_of",
    "keys_table",
    "load_settings",
]
