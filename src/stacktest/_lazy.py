"""Modules loaded on first use: the CLI imports what a command may need, and pays only for what it does.

A lazy module runs its code at its first use, which can be any moment of a run, so a Ctrl-C can land in
the middle of it. importlib keeps such a module in ``sys.modules`` half made (a random interruption
trial met "module 'requests' has no attribute 'Session'" in the teardown that followed): the loading is
one step that stop signals wait for (:func:`stacktest.signals.deferred`).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import Any

from stacktest import signals

__all__ = ["lazy_module"]


def lazy_module(name: str) -> ModuleType:
    """``name``, imported when one of its attributes is first read (importlib's LazyLoader). An
    ``except module.Error`` clause reads it only when an exception is being matched."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"no module named {name!r}")
    loader = importlib.util.LazyLoader(_Whole(spec.loader))
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


class _Whole(importlib.abc.Loader):
    """The module's own loader, its code run with stop signals held until it is done."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def __getattr__(self, name: str) -> Any:  # is_package, get_data, resource readers: the module's own
        return getattr(self.loader, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        with signals.deferred():
            self.loader.exec_module(module)
