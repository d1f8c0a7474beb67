"""The spy and its overlay: the spy folder staged with coverage's wheels for each Python of the images,
the compose overlay that puts it on ``PYTHONPATH`` of each covered service with a data volume, and the
spy delivered into that volume through the Engine API (so a remote engine works).

The sequence of a coverage run (commands.coverage.coverage_run): prepare the spy and overlay -> up ->
ready -> check the spy started (harvest) -> pytest -> every process asked to save, graceful stop ->
harvest -> combine per service with path mapping -> report (report) -> down.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import io
import logging
import os
import shutil
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import coverage
import yaml
from coverage.exceptions import CoverageException

from stacktest.adapters.engine import Engine
from stacktest.adapters.engine_model import ServiceState
from stacktest.adapters.images import LINUX_WHEELS, pip_download
from stacktest.errors import CommandFailed, ConfigError, CoverageError
from stacktest.settings import Settings

__all__ = [
    "DATA_DIR",
    "DATA_ROOT",
    "deliver_spy",
    "image_pythonpath",
    "make_data_writable",
    "overlay",
    "overlay_spec",
    "prepare_spy",
    "volume_name",
    "with_overlay",
]

log = logging.getLogger("stacktest")

DATA_ROOT = "/coverage-data"  # the service's data volume is mounted here
DATA_DIR = DATA_ROOT + "/run"  # made writable for every user before the service starts
SPY_MOUNT = "/coverage-spy"
SPY_VOLUME = "stacktest-spy"  # one per run (compose prefixes the project), filled through the Engine API
VENDOR_PYTHONS = ("3.10", "3.11", "3.12", "3.13", "3.14")
RCFILE = """\
# written by stacktest for the containers of one coverage run
[run]
parallel = true
branch = false
patch = _exit
disable_warnings = no-data-collected, module-not-measured, couldnt-trace
"""


def spy_source() -> Path:
    """The spy folder shipped with stacktest (coverage-spy/ of the repository)."""
    return Path(str(importlib.resources.files("stacktest_spy")))


def cache_dir() -> Path:
    """Where downloads are kept between runs and checkouts: $XDG_CACHE_HOME/stacktest, ~/.cache/stacktest."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")  # env: XDG_CACHE_HOME
    return Path(base) / "stacktest"


def _vendor(cache: Path) -> Path:
    """Wheels of the host's coverage version, unpacked: C tracer per Python version, and pure Python.

    Downloaded once into a private folder and renamed into place, so an interrupted download is never
    taken for a complete one and two runs never write the same folder."""
    version = coverage.__version__
    target = cache / f"coverage-{version}"
    if (target / ".complete").is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".coverage-{version}-", dir=cache))
    try:
        _download_vendor(version, work)
        (work / ".complete").write_text(version + "\n")
        with contextlib.suppress(OSError):  # another run finished first: use its copy
            work.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _download_vendor(version: str, target: Path) -> None:
    wheels = target / "wheels"
    base = ["--no-deps", "-d", str(wheels), f"coverage=={version}"]
    try:
        pip_download(
            [*base, "--platform", "any", "--python-version", "3.11"],
            what="pip download (pure-Python coverage for the spy)",
        )
        for py in VENDOR_PYTHONS:  # the C tracer, where a wheel exists for that Python
            pip_download(
                [*base, "--python-version", py, *LINUX_WHEELS],
                check=False,
                what="pip download (coverage C tracer for the spy)",
            )
    except CommandFailed as exc:
        raise CoverageError(
            f"could not download coverage {version} for the spy: {exc.message}",
            hint=f"the host must reach the package index once; the wheels are then kept in {cache_dir()}",
        ) from exc
    import zipfile

    for whl in wheels.glob("*.whl"):
        tag = "pure" if "py3-none-any" in whl.name else whl.name.split("-")[2]
        with zipfile.ZipFile(whl) as zf:
            zf.extractall(target / tag)  # noqa: S202 - a wheel (zip) we downloaded by hash, not a tar


def validate_rcfile(path: Path) -> None:
    """A broken coverage configuration must fail the run here, not yield a silent uncovered run."""
    try:
        coverage.Coverage(config_file=str(path), data_file=None)
    except CoverageException as exc:
        raise CoverageError(
            f"the coverage configuration {path} is broken: {exc}",
            hint="fix that file (or the coverage.rcfile setting) and run again",
        ) from exc


def prepare_spy(settings: Settings, run_dir: Path) -> Path:
    """The spy's files, to be copied into the run's spy volume (:func:`deliver_spy`), which the covered
    services mount read-only at /coverage-spy: sitecustomize.py (and its per-test contexts), .coveragerc and
    vendored coverage."""
    spy = run_dir / "spy"
    shutil.rmtree(spy, ignore_errors=True)
    spy.mkdir(parents=True)
    for name in ("sitecustomize.py", "_stacktest_contexts.py"):
        shutil.copy2(spy_source() / name, spy / name)
    rc = spy / ".coveragerc"
    if settings.coverage_rcfile:
        user = (settings.root / settings.coverage_rcfile).resolve()
        if not user.is_file():
            raise CoverageError(
                f"the coverage configuration {user} does not exist", hint="fix tool.stacktest.coverage.rcfile"
            )
        validate_rcfile(user)  # the message names the user's file, not our copy of it
        shutil.copy2(user, rc)
    else:
        rc.write_text(RCFILE)
        validate_rcfile(rc)
    vendor = _vendor(cache_dir())
    shutil.copytree(vendor, spy / "_vendor", ignore=shutil.ignore_patterns("wheels", ".complete"))
    _world_readable(spy)
    return spy


def _world_readable(top: Path) -> None:
    """Every user a service may run as reads the spy (mkdtemp made the vendored copy 0700)."""
    top.chmod(0o755)
    for folder, dirs, files in os.walk(top):
        for d in dirs:
            (Path(folder) / d).chmod(0o755)
        for f in files:
            (Path(folder) / f).chmod(0o644)


def volume_name(service: str) -> str:
    """The run's data volume of one covered service: services never share one, so one service can
    neither overwrite nor forge another's data or markers, and replicas of a service share theirs."""
    return f"stacktest-coverage-{service}"


def _environment(spec: Mapping[str, Any]) -> dict[str, str]:
    env = spec.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env if "=" in item)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def overlay(
    settings: Settings,
    base_config: Mapping[str, Any],
    dest: Path,
    from_images: Mapping[str, str] | None = None,
    *,
    packages: Sequence[str] = (),
) -> Path:
    """:func:`overlay_spec` written to ``dest`` as a compose file."""
    spec = overlay_spec(settings, base_config, from_images, packages=packages)
    dest.write_text(yaml.safe_dump(spec, sort_keys=True))
    return dest


def overlay_spec(
    settings: Settings,
    base_config: Mapping[str, Any],
    from_images: Mapping[str, str] | None = None,
    *,
    packages: Sequence[str] = (),
) -> dict[str, Any]:
    """A compose overlay in the seed's shape for each covered service, with a data volume per service
    and the run's spy volume mounted read-only. Neither is a folder of this machine: the spy reaches the
    volume through the Engine API (:func:`deliver_spy`), so a remote engine measures as a local one does.

    PYTHONPATH puts the spy first and keeps what the service already had: its compose environment's
    value, else its image's (``from_images``, read from the built image: compose's value would
    replace the image's ENV, and the service would no longer find its own modules)."""
    services = base_config.get("services") or {}
    missing = [s for s in settings.coverage_services if s not in services]
    if missing:
        raise ConfigError(
            f"tool.stacktest.coverage.services names {missing[0]!r}, which the stack does not have "
            f"(it has {', '.join(sorted(services))})"
        )
    out: dict[str, Any] = {"services": {}, "volumes": {}}
    for name in settings.coverage_services:
        spec = services[name] or {}
        own = _environment(spec).get("PYTHONPATH") or (from_images or {}).get(name, "")
        source = ":".join(settings.coverage_paths.get(name, {}).keys())
        env = {
            "PYTHONPATH": ":".join(p for p in (SPY_MOUNT, own) if p),
            "COVERAGE_FILE": f"{DATA_DIR}/.coverage",
            "STACKTEST_COVERAGE_RCFILE": f"{SPY_MOUNT}/.coveragerc",
            "STACKTEST_COVERAGE_SOURCE": source,
        }
        if packages:  # the repository's packages, wherever pip installed them (with no source folder
            # mapped, they are all that is measured: a service that runs its package from site-packages)
            env["STACKTEST_COVERAGE_PACKAGES"] = ":".join(packages)
        if spec.get("stop_signal"):
            env["STACKTEST_STOP_SIGNAL"] = str(spec["stop_signal"])
        if settings.coverage_contexts:  # each request's lines under the test that sent it
            env["STACKTEST_COVERAGE_CONTEXTS"] = "1"
        out["services"][name] = {
            "environment": env,
            "volumes": [f"{SPY_VOLUME}:{SPY_MOUNT}:ro", f"{volume_name(name)}:{DATA_ROOT}"],
        }
        out["volumes"][volume_name(name)] = {}
    out["volumes"][SPY_VOLUME] = {}
    return out


def with_overlay(base_config: Mapping[str, Any], added: Mapping[str, Any]) -> dict[str, Any]:
    """The stack's configuration as compose merges it with the overlay, for what stacktest reads of it
    (services, their builds and images, networks, volumes), without asking compose again: the overlay
    adds named volumes and each covered service's mounts and environment."""
    merged = dict(base_config)
    merged["volumes"] = {**(base_config.get("volumes") or {}), **added.get("volumes", {})}
    services = {name: dict(spec or {}) for name, spec in (base_config.get("services") or {}).items()}
    for name, extra in added.get("services", {}).items():
        spec = services[name]
        spec["environment"] = {**_environment(spec), **extra["environment"]}
        spec["volumes"] = [*(spec.get("volumes") or []), *extra["volumes"]]
    merged["services"] = services
    return merged


def image_pythonpath(engine: Engine, replicas: Mapping[str, Sequence[ServiceState]]) -> dict[str, str]:
    """The PYTHONPATH each covered service's image sets (ENV in its Dockerfile), where it sets one."""
    out = {}
    for service, states in replicas.items():
        value = engine.image_env(states[0].image_id).get("PYTHONPATH", "") if states else ""
        if value:
            out[service] = value
    return out


def make_data_writable(engine: Engine, replicas: Mapping[str, Sequence[ServiceState]]) -> None:
    """Before the services start: their data volumes writable for any user (``USER`` in a Dockerfile,
    ``user:`` in compose), as /tmp is. A new volume belongs to root, and a non-root service could not
    save its data, nor even say so."""
    for states in replicas.values():
        if states:
            engine.make_writable(states[0].container_id, DATA_DIR)


def deliver_spy(engine: Engine, replicas: Mapping[str, Sequence[ServiceState]], spy: Path) -> None:
    """Before the services start: copy the spy into the run's spy volume, through the Engine API (a
    short-lived helper container that mounts the volume is created, filled and removed; it never runs)."""
    first = next((states[0] for states in replicas.values() if states), None)
    if first is None:
        return
    volume = engine.volume_at(first.container_id, SPY_MOUNT)
    if volume is None:
        raise CoverageError(
            f"the covered service {first.service} has no spy volume at {SPY_MOUNT}",
            hint="a compose file of the stack mounts something else there; remove that mount",
        )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path in sorted(spy.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(spy)), recursive=False)
    engine.fill_volume(volume, buf.getvalue(), like=first.container_id)
