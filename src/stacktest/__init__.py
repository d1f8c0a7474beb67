"""stacktest: run pytest against real containers.

The public API is small: the error tree, settings loading, and the pytest plugin's fixtures (used by name,
not imported). Everything else is private to the package.
"""

from stacktest.errors import StacktestError
from stacktest.settings import Settings, load_settings

__all__ = ["Settings", "StacktestError", "__version__", "load_settings"]

__version__ = "0.1.0"
