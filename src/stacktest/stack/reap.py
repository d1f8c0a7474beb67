"""Stacks and images left behind by runs that died: found by their labels (the process that made them is
gone, or their checkout is), and removed."""

from __future__ import annotations

import json
import logging
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
from stacktest.stack.overlay import remembered_images
from stacktest.stack.owner import Owner, dead_because

__all__ = ["reap", "reap_orphans", "stale_images", "stale_stacks"]

log = logging.getLogger("stacktest")


# reap ----------------------------------------------------------------------------------------------
def _dead(info: StackInfo, settings: Settings, me: Owner) -> str:
    """Why ``info``'s run is known to be dead ('' when it is not): its owner's process is gone, as this
    machine's kernel tells (stack/owner.py), and its state file holds the token its labels hold."""
    why = dead_because(Owner.parse(info.owner), me)
    if not why or not info.token:
        return ""
    return why if _recorded_token(info, settings) == info.token else ""


def _recorded_token(info: StackInfo, settings: Settings) -> str:
    """The token in the state file of the run (in this checkout, or in the one its label names)."""
    if info.root == str(settings.root):
        path = settings.state.stack_file(info.project)
    else:
        path = Path(info.root) / ".stacktest" / "stacks" / f"{info.project}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8")[:65536])
    except (OSError, ValueError):
        return ""
    return str(data.get("token", "")) if isinstance(data, dict) else ""


def stale_stacks(
    engine: Engine, settings: Settings, *, now: float | None = None
) -> list[tuple[StackInfo, str]]:
    """Stacks on this engine whose run is known to be dead (see :func:`_dead`) or that are older than
    ``reap_age`` hours.

    A kept stack (``stacktest up``) outlives its command on purpose: only its age makes it stale.
    """
    now = time.time() if now is None else now
    me = Owner.me()
    out = []
    for info in engine.stacks():
        age_h = (now - info.created) / 3600 if info.created else 0.0
        dead = "" if info.kept else _dead(info, settings, me)
        if dead:
            out.append((info, dead))
        elif age_h > settings.reap_age:
            out.append((info, f"it is {age_h:.1f} h old (reap_age = {settings.reap_age:g} h)"))
    return out


def reap_orphans(settings: Settings, engine: Engine) -> list[str]:
    """Before a stack starts: remove the stacks whose run is known to be dead (a run killed with
    SIGKILL, a CI job cut off), and say so. Kept stacks (``stacktest up``) stay, and so do stacks of
    other machines, containers or PID namespaces on a shared engine (their owner cannot be checked from
    here: ``stacktest reap`` removes them by age). Never fails the start: a stack that cannot be removed
    is left."""
    me = Owner.me()
    orphans = [
        (info, why) for info in engine.stacks() if not info.kept and (why := _dead(info, settings, me))
    ]
    removed = []
    for info, why in orphans:
        try:
            reap(settings, engine, [info])
        except (StacktestError, OSError) as exc:
            log.warning("could not remove stack %s left by a run that died: %s", info.project, exc)
            continue
        log.warning(
            "removed stack %s: its run (pid %d) died without removing it (%s)", info.project, info.pid, why
        )
        removed.append(info.project)
    return removed


def stale_images(engine: Engine) -> list[tuple[str, str]]:
    """Images stacktest built (on this machine: their ids are in its registry, which no image can write)
    for a checkout that no longer exists: (image, checkout)."""
    host = socket.gethostname()
    ours = remembered_images()
    out = []
    for image_id, tags, labels in engine.images_labelled(LABEL_ROOT):
        root = labels.get(LABEL_ROOT, "")
        if image_id not in ours or labels.get(LABEL_HOST) != host or not root:
            continue
        try:
            gone = not Path(root).is_dir()
        except OSError:  # another user's checkout this user cannot read: not known to be gone
            gone = False
        if gone:
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
