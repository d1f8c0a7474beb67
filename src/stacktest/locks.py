"""One lock file per shared thing on the host, for work that two stacktest processes may start at once
(two runs in one checkout, the workers of a parallel test run): building the base image, downloading a
build context's wheels. The second process waits, then finds the work done."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["exclusive"]


@contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` (made when missing) for the ``with`` block. The kernel
    drops it when the process ends, so a killed holder never leaves the others waiting."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
