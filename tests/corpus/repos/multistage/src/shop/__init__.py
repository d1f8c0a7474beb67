"""The shop's storefront API."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("shop")
except PackageNotFoundError:  # running from a checkout without an install
    __version__ = "0+unknown"
