"""Stand-in images for the repository shapes of tests/corpus/repos: the public images their compose files
and Dockerfiles name, made here because this machine reaches no image registry.

- ``python:3.11-slim-stacktest`` (python.Dockerfile): Debian bookworm's CPython 3.11 in /opt/venv, first
  on PATH, with every package of requirements.txt preinstalled from wheels downloaded on the host (cached
  under the system's temporary folder, by the hash of requirements.txt) and pip set to work offline.
- ``postgres:15-stacktest``, ``mariadb:10-stacktest`` and ``nginx:stacktest``: one Debian bookworm made
  by mmdebstrap with PostgreSQL 15, MariaDB 10.11, nginx and gosu, and a layer each that behaves like the
  official image.
- ``redis:7-stacktest``: the local base image's redis-server, run as the official image runs it.

:func:`ensure_images` builds only what is missing or stale (each image is labelled with the hash of what
it was built from), under one lock file, so that parallel test workers build once. Run this file to build
them by hand: ``python3 tests/corpus/repos/_images/build.py``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from stacktest.adapters.engine import Engine

__all__ = ["IMAGES", "ensure_images"]

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
REQUIREMENTS = HERE / "requirements.txt"
BASE_IMAGE = "stacktest-base:bookworm"
DEBIAN_PACKAGES = ("postgresql-15", "mariadb-server", "nginx-light", "gosu")
LABEL = "io.stacktest.corpus-image"  # the hash of what the image was built from
PYTHON_IMAGE = "python:3.11-slim-stacktest"
POSTGRES_IMAGE = "postgres:15-stacktest"
NGINX_IMAGE = "nginx:stacktest"
REDIS_IMAGE = "redis:7-stacktest"
MARIADB_IMAGE = "mariadb:10-stacktest"
IMAGES = (PYTHON_IMAGE, POSTGRES_IMAGE, MARIADB_IMAGE, NGINX_IMAGE, REDIS_IMAGE)
# image: (its Dockerfile, the files it copies from this folder)
_LAYERS = {
    POSTGRES_IMAGE: ("postgres.Dockerfile", ("postgres-entrypoint.sh",)),
    MARIADB_IMAGE: ("mariadb.Dockerfile", ("mariadb-entrypoint.sh",)),
    NGINX_IMAGE: ("nginx.Dockerfile", ("nginx-default.conf", "nginx-index.html")),
    REDIS_IMAGE: ("redis.Dockerfile", ("redis-entrypoint.sh",)),
}

log = logging.getLogger("stacktest.corpus")


def ensure_images(engine: Engine | None = None) -> None:
    """Build every stand-in image that is missing or stale (``engine``: the connected engine, else one is
    connected for the call). Another process building them meanwhile is waited for, not repeated."""
    from stacktest.locks import exclusive

    own = engine is None
    engine = engine or Engine.connect(timeout=15)
    try:
        _ensure_base(engine)
        if not _stale(engine):
            return
        with exclusive(Path(tempfile.gettempdir()) / "stacktest-corpus-images.lock"):
            stale = _stale(engine)  # another process may have built them while this one waited
            if stale:
                _build(engine, stale)
    finally:
        if own:
            engine.close()


def _ensure_base(engine: Engine) -> None:
    from stacktest.adapters.images import ensure_base_image
    from stacktest.settings import load_settings

    ensure_base_image(engine, load_settings(config=REPO / "pyproject.toml", environ={}))


def _digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()


def _debian_image() -> str:
    return f"stacktest-corpus-debian:{_digest(*DEBIAN_PACKAGES)[:12]}"


def _wanted(engine: Engine) -> dict[str, str]:
    """Each image's hash of what it is built from: its Dockerfile and files, and the image it is FROM."""
    base = engine.image_id(BASE_IMAGE) or ""
    read = lambda name: (HERE / name).read_bytes()  # noqa: E731
    wanted = {PYTHON_IMAGE: _digest(base, read("python.Dockerfile"), read("requirements.txt"))}
    for image, (dockerfile, files) in _LAYERS.items():
        source = base if image == REDIS_IMAGE else _debian_image()
        wanted[image] = _digest(source, read(dockerfile), *(read(f) for f in files))
    return wanted


def _stale(engine: Engine) -> dict[str, str]:
    """The images to build, with the hash each must be labelled with."""
    import docker.errors

    out = {}
    for image, digest in _wanted(engine).items():
        try:
            labels = engine.client.images.get(image).labels or {}
        except docker.errors.ImageNotFound:
            labels = {}
        if labels.get(LABEL) != digest:
            out[image] = digest
    return out


def _build(engine: Engine, stale: dict[str, str]) -> None:
    """The Python image (wheels, then the build), the Redis one, and the Debian ones (mmdebstrap, then
    their layers, each in a thread of its own) at the same time: most of the time is waiting on the
    network and the engine, not on the processor."""

    def python_side() -> None:
        if PYTHON_IMAGE in stale:
            _build_python(engine, stale[PYTHON_IMAGE])

    def redis_side() -> None:
        if REDIS_IMAGE in stale:
            _build_layer(engine, REDIS_IMAGE, stale[REDIS_IMAGE])

    def debian_side() -> None:
        layers = [i for i in _LAYERS if i != REDIS_IMAGE and i in stale]
        if not layers:
            return
        debian = _debian_image()
        if not engine.image_exists(debian):
            from stacktest.adapters.images import build_debian_image

            build_debian_image(engine, debian, "bookworm", DEBIAN_PACKAGES)
        args = {"DEBIAN_IMAGE": debian}
        _parallel([lambda image=image: _build_layer(engine, image, stale[image], args) for image in layers])

    _parallel([python_side, redis_side, debian_side])


def _parallel(work: list[Callable[[], None]]) -> None:
    """Run each function in a thread of its own; the first error, if any, is raised after all ended."""
    errors: list[BaseException] = []

    def run(function: Callable[[], None]) -> None:
        try:
            function()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(function,)) for function in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def _wheels() -> Path:
    """The wheels of requirements.txt for CPython 3.11 on Linux, downloaded on the host once per version
    of the file (called under the images' lock)."""
    from stacktest.adapters.images import LINUX_WHEELS, WHEEL_PYTHON, pip_download

    folder = (
        Path(tempfile.gettempdir()) / f"stacktest-corpus-wheels-{_digest(REQUIREMENTS.read_bytes())[:16]}"
    )
    done = folder / ".complete"
    if not done.is_file():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        pip_download(
            ["-r", str(REQUIREMENTS), "-d", str(folder), "--python-version", WHEEL_PYTHON, *LINUX_WHEELS],
            what="pip download (wheels of the corpus images)",
        )
        done.write_text("")
    return folder


def _build_python(engine: Engine, digest: str) -> None:
    wheels = _wheels()
    with tempfile.TemporaryDirectory(prefix="stacktest-corpus-python-") as tmp:
        context = Path(tmp)
        shutil.copy2(HERE / "python.Dockerfile", context / "Dockerfile")
        (context / "wheels").mkdir()
        for wheel in wheels.glob("*.whl"):
            try:
                os.link(wheel, context / "wheels" / wheel.name)
            except OSError:
                shutil.copy2(wheel, context / "wheels" / wheel.name)
        shutil.copy2(REQUIREMENTS, context / "wheels" / "requirements.txt")
        _docker_build(engine, context, PYTHON_IMAGE, digest)


def _build_layer(engine: Engine, image: str, digest: str, args: dict[str, str] | None = None) -> None:
    dockerfile, files = _LAYERS[image]
    with tempfile.TemporaryDirectory(prefix="stacktest-corpus-layer-") as tmp:
        context = Path(tmp)
        shutil.copy2(HERE / dockerfile, context / "Dockerfile")
        for name in files:
            shutil.copy2(HERE / name, context / name)
        _docker_build(engine, context, image, digest, args)


def _docker_build(
    engine: Engine, context: Path, image: str, digest: str, args: dict[str, str] | None = None
) -> None:
    """``docker build`` through the engine's API (the classic builder: FROM a local image, no registry).
    The image it replaces is removed when nothing uses it."""
    import docker.errors

    started = time.monotonic()
    old = engine.image_id(image)
    try:
        engine.client.images.build(
            path=str(context),
            tag=image,
            labels={LABEL: digest},
            buildargs=args or {},
            rm=True,
            forcerm=True,
            pull=False,
        )
    except docker.errors.BuildError as exc:
        said = "".join(str(chunk.get("stream") or chunk.get("error") or "") for chunk in exc.build_log)
        raise RuntimeError(f"building {image} failed: {exc}\n{said[-4000:]}") from None
    if old and old != engine.image_id(image):
        engine.remove_image(old)
    log.info("built %s in %.1f s", image, time.monotonic() - started)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    begun = time.monotonic()
    ensure_images()
    print(f"stand-in images ready in {time.monotonic() - begun:.1f} s: {', '.join(IMAGES)}")
