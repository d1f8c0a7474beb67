"""stacktest: run pytest against real containers.

The public API is small: the error tree, settings loading, the pytest plugin's fixtures (used by name,
not imported), and ``test_headers()`` (the header that names the running test, for a client of your
own). Everything else is private to the package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stacktest.errors import StacktestError
    from stacktest.plugin.contexts import test_headers
    from stacktest.settings import Settings, load_settings

__all__ = ["Settings", "StacktestError", "__version__", "load_settings", "test_headers"]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """The public names, imported on first use: the command's entry point (``stacktest.cli.entry``)
    must install its signal handlers before anything heavy is imported, and importing it imports this."""
    if name == "StacktestError":
        from stacktest.errors import StacktestError

        return StacktestError
    if name in ("Settings", "load_settings"):
        from stacktest import settings

        return getattr(settings, name)
    if name == "test_headers":
        from stacktest.plugin.contexts import test_headers

        return test_headers
    raise AttributeError(f"module 'stacktest' has no attribute {name!r}")
