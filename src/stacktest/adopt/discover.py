"""Where a repository keeps what init reads: its compose files (common names, at the top or in a
common folder), the sample files of a documented setup step, and the folder of its live tests."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from stacktest.adopt.files import inside, python_files, read_text
from stacktest.errors import ConfigError

__all__ = ["COMPOSE_NAMES", "OVERRIDE_NAMES", "compose_files", "missing_setup", "tests_folder"]

COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_NAMES = (
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)
FOLDERS = (".", "docker", "compose", "deploy", "deployment", ".docker", "infra", "ops", "docker-compose")
_VARIANT = re.compile(r"^(docker-)?compose\.([\w-]+)\.ya?ml$")
_PREFERRED_VARIANTS = ("dev", "development", "local", "test", "ci")
SAMPLE_SUFFIXES = (".example", ".sample", ".dist", ".template", ".tmpl", ".default")
LIVE_FOLDERS = (
    "tests/live",
    "tests/e2e",
    "tests/integration",
    "tests/acceptance",
    "tests/functional",
    "tests/system",
    "e2e",
    "integration_tests",
    "integration-tests",
    "tests",
)


def compose_files(root: Path, given: Sequence[Path] = ()) -> tuple[list[Path], str]:
    """The compose files to use, and why these."""
    if given:
        missing = [str(p) for p in given if not (root / p).is_file()]
        if missing:
            raise ConfigError(
                f"no compose file {', '.join(missing)}", hint="give paths relative to where you run init"
            )
        return [root / p for p in given], "as given with --file"
    for folder in FOLDERS:
        base = root / folder
        if not base.is_dir() or not inside(base, root):
            continue
        main = [base / n for n in COMPOSE_NAMES if (base / n).is_file()][:1]
        if main:
            override = [base / n for n in OVERRIDE_NAMES if (base / n).is_file()][:1]
            why = f"{main[0].relative_to(root)} is the standard name" + (
                f", with {override[0].relative_to(root)} (compose reads it by default)" if override else ""
            )
            return main + override, why
        variants = sorted(p for p in base.iterdir() if _VARIANT.match(p.name) and "override" not in p.name)
        if variants:
            rank = {v: i for i, v in enumerate(_PREFERRED_VARIANTS)}
            best = min(variants, key=lambda p: (rank.get(_VARIANT.match(p.name)[2], 99), p.name))  # type: ignore[index]
            others = ", ".join(str(v.relative_to(root)) for v in variants if v != best)
            why = f"{best.relative_to(root)}: no standard name here; a development variant first" + (
                f" (also found: {others}; choose with --file)" if others else ""
            )
            return [best], why
    raise ConfigError(
        f"no compose file in {root} or in its folders {', '.join(FOLDERS[1:])}",
        hint="run `stacktest init` at the top of the repository, or name the file: "
        "`stacktest init --file path/to/compose.yml`",
    )


def missing_setup(files: Sequence[Path], root: Path, message: str) -> str:
    """When ``compose config`` failed: the sample file a documented setup step copies (``cp .env.example
    .env``), if the failure names a missing file or variable and such a sample is there; else ''."""
    folders = {f.parent for f in files} | {root}
    for folder in sorted(folders):
        for sample in sorted(folder.iterdir()):
            for suffix in SAMPLE_SUFFIXES:
                if not sample.name.endswith(suffix) or not sample.is_file():
                    continue
                target = sample.with_name(sample.name[: -len(suffix)])
                if target.name and not target.exists():
                    copy = f"copy {sample.relative_to(root)} to {target.relative_to(root)}"
                    return f"{copy} (a setup step of this repository) and fill it in"
    return ""


def tests_folder(root: Path, given: str | None, unit_folders: set[Path]) -> tuple[str, str]:
    """The folder of the live tests, and why: as given; else the first existing folder of
    :data:`LIVE_FOLDERS` that is not one whose tests run inside a container (``unit_folders``: copied into
    an image, or run by a test-runner service) and does not import the application directly; else a
    new ``tests/live``."""
    if given:
        return given.strip("/") or ".", "as given with --tests"
    units = {u.resolve() for u in unit_folders}
    for name in LIVE_FOLDERS:
        folder = root / name
        if not folder.is_dir() or not inside(folder, root):
            continue
        here = folder.resolve()
        if here in units:
            continue
        if name == "tests" and (
            _runs_in_container(folder, root) or any(u.is_relative_to(here) for u in units)
        ):
            continue
        return name, f"{name}/ holds tests that are not run inside a container"
    tests = root / "tests"
    if tests.is_dir() and (tests.resolve() in units or _runs_in_container(tests, root)):
        return "live_tests", "tests/ holds tests run inside a container (unit tests): a new folder beside it"
    return "tests/live", "no folder of live tests found: a new one"


def _runs_in_container(folder: Path, root: Path) -> bool:
    """Tests that import the application's modules directly are unit tests (they need its
    dependencies on the test machine); live tests talk to the stack."""
    for path in python_files(folder, root):
        text = read_text(path, root, limit=16 * 1024) or ""
        if re.search(r"\b(httpx|requests|urllib\.request|stack\b|service_client)", text):
            return False
    return any(True for _ in python_files(folder, root))
