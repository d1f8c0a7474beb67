"""The compose overlay stacktest adds to every stack it starts: its labels (which checkout, run and process
made it, so a reap finds it) and the names of the images it builds (so they are found and removed again)."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import socket
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stacktest.adapters import compose as _compose
from stacktest.adapters.engine import Engine
from stacktest.adapters.engine_model import (
    LABEL_CHECKOUT,
    LABEL_CREATED,
    LABEL_HOST,
    LABEL_KEPT,
    LABEL_OWNER,
    LABEL_PID,
    LABEL_ROOT,
    LABEL_RUN,
    LABEL_TOKEN,
)
from stacktest.locks import exclusive
from stacktest.settings import Settings
from stacktest.stack.owner import Owner
from stacktest.state import atomic_write

log = logging.getLogger("stacktest")

__all__ = [
    "build_contexts",
    "built_images",
    "drop_replaced",
    "fast_healthchecks",
    "image_prefix",
    "images_built",
    "labelled_config",
    "remembered_images",
    "stack_labels",
]


# start ---------------------------------------------------------------------------------------------
def stack_labels(settings: Settings, project: str, kept: bool, token: str = "") -> dict[str, str]:
    """The run's labels (see stack/owner.py for LABEL_OWNER and LABEL_TOKEN)."""
    return {
        LABEL_OWNER: Owner.me().label(),
        LABEL_TOKEN: token,
        LABEL_KEPT: "true" if kept else "false",
        LABEL_RUN: project,
        LABEL_CHECKOUT: _compose.checkout_id(settings.root),
        LABEL_ROOT: str(settings.root),
        LABEL_PID: str(os.getpid()),
        LABEL_HOST: socket.gethostname(),
        LABEL_CREATED: f"{time.time():.3f}",
    }


def labelled_config(config: Mapping[str, Any], labels: Mapping[str, str], prefix: str) -> dict[str, Any]:
    """A compose file that puts the run's labels on every service, network and volume, and gives each
    image that compose builds without a name one stable name per checkout (``<prefix>-<service>``):
    compose would tag it ``<project>-<service>``, a new tag for every run."""
    services: dict[str, Any] = {}
    owner = {k: v for k, v in labels.items() if k in (LABEL_ROOT, LABEL_CHECKOUT, LABEL_HOST)}
    for name, spec in (config.get("services") or {}).items():
        services[name] = {"labels": dict(labels)} | fast_healthchecks(config).get(name, {})
        if (spec or {}).get("build"):
            services[name]["build"] = {"labels": owner}  # `reap` finds images of vanished checkouts
            if not (spec or {}).get("image"):
                services[name]["image"] = _image_name(name, spec, prefix)
    out: dict[str, Any] = {"services": services}
    networks: dict[str, Any] = {"default": {}} | dict(config.get("networks") or {})
    out["networks"] = {
        n: {"labels": dict(labels)} for n, spec in networks.items() if not (spec or {}).get("external")
    }
    volumes = {
        v: {"labels": dict(labels)}
        for v, spec in (config.get("volumes") or {}).items()
        if not (spec or {}).get("external")
    }
    if volumes:
        out["volumes"] = volumes
    return out


HEALTH_INTERVAL = 0.5  # seconds between a waited-on healthcheck's runs during a run
_DEFAULTS = {"interval": 30.0, "retries": 3}  # the engine's, when compose gives none
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def fast_healthchecks(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """For each service another one waits on (``depends_on: {condition: service_healthy}``): its
    healthcheck every :data:`HEALTH_INTERVAL`, so ``compose up`` starts the dependent service at most that
    long after the dependency is ready instead of up to a whole interval (30 s by default; engines
    before 25 have no ``start_interval``). ``retries`` is scaled so that "unhealthy" still means as many
    seconds of failures; ``start_period`` and ``timeout`` are kept. Keyed by service."""
    services: Mapping[str, Any] = config.get("services") or {}
    waited: set[str] = set()
    for spec in services.values():
        needs = (spec or {}).get("depends_on")
        if isinstance(needs, Mapping):
            waited |= {n for n, c in needs.items() if (c or {}).get("condition") == "service_healthy"}
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(waited):
        check = (services.get(name) or {}).get("healthcheck") or {}
        if not check.get("test") or check.get("disable") or check.get("test") in (["NONE"], "NONE"):
            continue  # the image's own HEALTHCHECK: its interval is not known here
        interval = _seconds(check.get("interval"), _DEFAULTS["interval"])
        if interval <= HEALTH_INTERVAL:
            continue
        retries = int(check.get("retries") or _DEFAULTS["retries"])
        out[name] = {
            "healthcheck": {
                "interval": f"{HEALTH_INTERVAL:g}s",
                "retries": math.ceil(retries * interval / HEALTH_INTERVAL),
            }
        }
    return out


def _seconds(value: object, default: float) -> float:
    """A compose duration (``"1m30s"``, ``"500ms"``; a number is seconds) in seconds."""
    if isinstance(value, int | float):
        return float(value)
    parts = _DURATION.findall(str(value or ""))
    return sum(float(n) * _UNIT[u] for n, u in parts) if parts else default


def image_prefix(settings: Settings) -> str:
    """What names the images compose builds without a name of their own: one per checkout."""
    return f"{settings.project_prefix}-{_compose.checkout_id(settings.root)}"


def _image_name(service: str, spec: Mapping[str, Any] | None, prefix: str) -> str:
    return str((spec or {}).get("image") or f"{prefix}-{service}")


def built_images(config: Mapping[str, Any], prefix: str) -> list[str]:
    """The image names compose builds for this stack (its own names, or the stable ones we give)."""
    services = (config.get("services") or {}).items()
    return sorted({_image_name(name, spec, prefix) for name, spec in services if (spec or {}).get("build")})


def built_registry() -> Path:
    """The images stacktest built on this machine, by id: what proves an image is ours (labels do not:
    any image can carry them)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "stacktest" / "built-images.json"


def remembered_images() -> set[str]:
    try:
        data = json.loads(built_registry().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return {str(i) for i in data} if isinstance(data, list) else set()


def images_built(engine: Engine, names: Sequence[str], before: Mapping[str, str | None]) -> None:
    """After `compose up`: drop the images a rebuild replaced, and remember the ids of those built."""
    drop_replaced(engine, before)
    ids = {i for i in (engine.image_id(n) for n in names) if i}
    if not ids:
        return
    path = built_registry()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with exclusive(path.with_suffix(".lock")):
            known = remembered_images()
            if not ids <= known:
                atomic_write(path, json.dumps(sorted(known | ids)))
    except OSError as exc:  # a read-only home: images are then never reaped, only kept
        log.warning("could not record the images built (%s): reap will leave them", exc)


def drop_replaced(engine: Engine, before: Mapping[str, str | None]) -> None:
    """A rebuild with BuildKit writes a new image even when every step was cached, and the one it
    replaced stays behind without a name: remove it, unless a container (another run's) still uses it."""
    for name, old in before.items():
        if old is not None and engine.image_id(name) not in (None, old):
            engine.remove_image(old)


def build_contexts(config: Mapping[str, Any]) -> dict[str, Path]:
    out = {}
    for name, spec in (config.get("services") or {}).items():
        build = (spec or {}).get("build")
        context = build.get("context") if isinstance(build, dict) else build
        if isinstance(context, str) and os.path.isdir(context):
            out[name] = Path(context)
    return out
