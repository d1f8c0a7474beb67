"""Images that build with no registry: a base made from Debian's packages, and wheels fetched on the host.

Only for stacks written for it, such as the bundled example: with the default ``images = "compose"``
stacktest builds and runs a stack exactly as compose would, and nothing here runs.
``images = "local"`` builds every Dockerfile ``FROM`` the local base image, which is made once with
mmdebstrap and imported into the engine; Python packages reach the build as wheels downloaded on the host
into the build context's ``wheels/`` folder. ``images = "public"`` points the same Dockerfiles at public
base images, for users who have a registry.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from stacktest.adapters import process as _process
from stacktest.adapters.engine import Engine
from stacktest.errors import CommandFailed, ConfigError
from stacktest.locks import exclusive
from stacktest.settings import Settings

__all__ = [
    "BASE_PACKAGES",
    "IMAGE_ENV_KEYS",
    "LINUX_WHEELS",
    "PUBLIC_IMAGES",
    "build_debian_image",
    "ensure_base_image",
    "ensure_wheels",
    "image_env",
    "pip_download",
]

log = logging.getLogger("stacktest")

BASE_PACKAGES = ("python3", "python3-venv", "redis-server", "ca-certificates")
CLASSIC_BUILDER = {"DOCKER_BUILDKIT": "0", "COMPOSE_DOCKER_CLI_BUILD": "0"}
PUBLIC_IMAGES = {
    "STACKTEST_PYTHON_IMAGE": "python:3.11-slim-bookworm",
    "STACKTEST_REDIS_IMAGE": "redis:7-bookworm",
}
IMAGE_ENV_KEYS = frozenset({*PUBLIC_IMAGES, *CLASSIC_BUILDER})  # every variable image_env() may set
WHEEL_PYTHON = "3.11"  # the Python of Debian bookworm, and of the public python:3.11 image


LINUX_WHEELS = (
    "--implementation",
    "cp",
    "--platform",
    "manylinux2014_x86_64",
    "--platform",
    "manylinux_2_17_x86_64",
    "--platform",
    "manylinux_2_28_x86_64",
)


def pip_download(args: list[str], *, what: str, check: bool = True) -> _process.Result:
    """Binary wheels from the package index, on the host (containers cannot reach it)."""
    return _process.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            *args,
        ],
        timeout=300,
        check=check,
        what=what,
    )


def image_env(settings: Settings) -> dict[str, str]:
    """The variables the compose files interpolate to pick their base images (none for 'compose').
    The classic builder is asked for: it builds FROM a local image without a registry or buildx."""
    if settings.images == "compose":
        return {}
    if settings.images == "public":
        return dict(PUBLIC_IMAGES) | CLASSIC_BUILDER
    return {key: settings.base_image for key in PUBLIC_IMAGES} | CLASSIC_BUILDER


def ensure_base_image(engine: Engine, settings: Settings) -> bool:
    """Build the local base image when it is missing. Returns True when it built one."""
    if settings.images != "local" or engine.image_exists(settings.base_image):
        return False
    safe = "".join(c if c.isalnum() else "-" for c in settings.base_image)
    with exclusive(Path(tempfile.gettempdir()) / f"stacktest-image-{safe}.lock"):
        if engine.image_exists(settings.base_image):  # another process built it while this one waited
            return False
        return _build_base_image(engine, settings)


def _build_base_image(engine: Engine, settings: Settings) -> bool:
    if shutil.which("mmdebstrap") is None:
        raise ConfigError(
            f"the base image {settings.base_image} is missing and mmdebstrap is not installed",
            hint="install it (apt-get install mmdebstrap; `just setup` does), or set images = 'public' "
            "(STACKTEST_IMAGES=public) when you can pull from a registry",
        )
    build_debian_image(engine, settings.base_image, "bookworm", BASE_PACKAGES)
    return True


def build_debian_image(engine: Engine, name: str, suite: str, packages: tuple[str, ...]) -> None:
    """A minimal Debian ``suite`` with ``packages``, made by mmdebstrap and imported as ``name``."""
    log.info("building image %s from Debian %s's packages (about 30 s)", name, suite)
    with tempfile.TemporaryDirectory(prefix="stacktest-base-") as tmp:
        tar = Path(tmp) / "rootfs.tar"
        _process.run(
            [
                "mmdebstrap",
                "--variant=minbase",
                "--include=" + ",".join(packages),
                "--aptopt=Acquire::Retries=3",
                suite,
                str(tar),
            ],
            timeout=900,
            what=f"mmdebstrap (building {name})",
        )
        engine.import_image(tar, name)


def ensure_wheels(build_contexts: Mapping[str, Path]) -> list[str]:
    """Download the wheels each build context's requirements.txt names into its wheels/ folder.

    A stamp of the requirements' hash makes this a no-op when nothing changed. Returns the services
    whose wheels were (re)downloaded.
    """
    fetched: list[str] = []
    for service, context in sorted(build_contexts.items()):
        req = context / "requirements.txt"
        if not req.is_file():
            continue
        wheels = context / "wheels"
        stamp = wheels / ".stamp"
        digest = hashlib.sha256(req.read_bytes()).hexdigest()
        if stamp.is_file() and stamp.read_text().strip() == digest:
            continue
        with exclusive(wheels / ".lock"):
            if stamp.is_file() and stamp.read_text().strip() == digest:
                continue  # another process fetched them while this one waited
            _download_wheels(service, req, wheels)
            stamp.write_text(digest + "\n")
        fetched.append(service)
    return fetched


def _download_wheels(service: str, req: Path, wheels: Path) -> None:
    for old in wheels.glob("*.whl"):
        old.unlink()
    try:
        pip_download(
            ["-r", str(req), "-d", str(wheels), "--python-version", WHEEL_PYTHON, *LINUX_WHEELS],
            what=f"pip download (wheels for {service})",
        )
    except CommandFailed as exc:
        exc.hint = "the host must reach the package index to fetch wheels; check the requirement names"
        raise
