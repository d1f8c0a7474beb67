"""Stacks and images left behind by runs that died: found by their labels (the process that made them is
gone, or their checkout is), and removed."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Sequence
from pathlib import Path

from stacktest import signals
from stacktest.adapters.engine import Engine
from stacktest.adapters.engine_model import (
    LABEL_HOST,
    LABEL_ROOT,
    StackInfo,
)
from stacktest.errors import StacktestError
from stacktest.settings import Settings

__all__ = ["reap", "reap_orphans", "stale_images", "stale_stacks"]

log = logging.getLogger("stacktest")


# reap ----------------------------------------------------------------------------------------------
def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_stacks(
    engine: Engine, settings: Settings, *, now: float | None = None
) -> list[tuple[StackInfo, str]]:
    """Stacks on this engine whose owner is gone (same host) or that are older than ``reap_age`` hours.

    A kept stack (``stacktest up``) outlives its command on purpose: only its age makes it stale.
    """
    now = time.time() if now is None else now
    host = socket.gethostname()
    out = []
    for info in engine.stacks():
        age_h = (now - info.created) / 3600 if info.created else 0.0
        if not info.kept and info.host == host and not _alive(info.pid):
            out.append((info, f"its owner (pid {info.pid}) is gone"))
        elif age_h > settings.reap_age:
            out.append((info, f"it is {age_h:.1f} h old (reap_age = {settings.reap_age:g} h)"))
    return out


def reap_orphans(settings: Settings, engine: Engine) -> list[str]:
    """Before a stack starts: remove the stacks of this machine whose owner process is gone (a run
    killed with SIGKILL, a CI job cut off), and say so. Kept stacks (``stacktest up``) stay, and so do
    stacks of other machines on a shared engine (their owner cannot be checked from here: ``stacktest
    reap`` removes them by age). Never fails the start: a stack that cannot be removed is left."""
    host = socket.gethostname()
    orphans = [
        info
        for info in engine.stacks()
        if not info.kept and info.host == host and info.pid and not _alive(info.pid)
    ]
    removed = []
    for info in orphans:
        try:
            reap(settings, engine, [info])
        except (StacktestError, OSError) as exc:
            log.warning("could not remove stack %s left by a run that died: %s", info.project, exc)
            continue
        log.warning("removed stack %s: its run (pid %d) died without removing it", info.project, info.pid)
        removed.append(info.project)
    return removed


def stale_images(engine: Engine) -> list[tuple[str, str]]:
    """Images stacktest built for a checkout of this machine that no longer exists: (image, checkout)."""
    host = socket.gethostname()
    out = []
    for image_id, tags, labels in engine.images_labelled(LABEL_ROOT):
        root = labels.get(LABEL_ROOT, "")
        if labels.get(LABEL_HOST) == host and root and not Path(root).is_dir():
            named = [t for t in tags if t != "<none>:<none>"]
            out.append((named[0] if named else image_id, root))
    return out


def reap(
    settings: Settings, engine: Engine, stacks: Sequence[StackInfo]
) -> list[tuple[str, tuple[int, int, int]]]:
    removed = []
    with signals.deferred():
        for info in stacks:
            removed.append((info.project, engine.remove_project(info.project)))
            settings.state.stack_file(info.project).unlink(missing_ok=True)
    return removed
