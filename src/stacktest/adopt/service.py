"""One compose service as init sees it: its Dockerfile's final stage, what it runs, where its source
is, and from those its probe and whether it is covered, each with the reason."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacktest.adopt import dockerfile, probes, sources
from stacktest.adopt.code import read_code
from stacktest.adopt.files import inside, parse_toml, read_text
from stacktest.adopt.runs import Runs, classify

__all__ = ["PYTHON_IMAGE", "Service", "read_service"]

_PIP_INSTALLS_HERE = re.compile(r"pip3?\s+install\b[^&;|]*\s\.(/|\s|$)")  # `pip install .` of the context
PYTHON_IMAGE = re.compile(r"(^|/)(python|pypy|uvicorn-gunicorn[\w-]*|django|jupyter[\w-]*)(:|$)", re.I)


@dataclass
class Service:
    name: str
    runs: Runs
    probe: dict[str, Any] | None
    probe_why: str
    covered: dict[str, str] | None  # container path -> repository path; None: not covered
    covered_why: str
    notes: list[str] = field(default_factory=list)
    test_paths: list[str] = field(default_factory=list)  # what a test-runner service runs


def read_service(root: Path, name: str, spec: Mapping[str, Any], *, awaited_exit: bool = False) -> Service:
    """``awaited_exit``: another service waits for this one to complete (``depends_on: {condition:
    service_completed_successfully}``), so it is a one-shot whatever it runs."""
    notes: list[str] = []
    stages, context = _stages(root, name, spec, notes)
    final = stages[-1] if stages else None
    copies = sources.from_stages(stages, context, root) if context is not None else sources.Mapped()
    mounts = sources.bind_mounts(spec, root)

    def script(path: str) -> str | None:
        return _script_text(path, copies.paths | mounts.paths, context, root)

    own = console_scripts([root, *([context] if context is not None else [])], root)
    runs = classify(_argv(spec, final), script, own)
    if awaited_exit:
        runs.kind = "oneshot"
        runs.why = (runs.why or "it runs a command") + "; others wait for it to complete"
    base = final.base if final else str(spec.get("image") or "")
    if runs.kind == "unknown" and PYTHON_IMAGE.search(base):
        runs = Runs("python", True, program="python", why=f"its image is a Python image ({base})")
    elif not runs.python and final is not None and PYTHON_IMAGE.search(base) and runs.kind == "other":
        runs.why = f"runs {runs.program}, not Python"
    paths = copies.paths | mounts.paths  # a bind mount hides what the image has there
    folders = [root / p for p in set(paths.values())]
    if runs.program in own and context is not None:  # installed with pip: its source is in the context
        folders.append(context)
    code = read_code(folders, root)
    exposed = [int(p) for ins in (final.all("EXPOSE") if final else []) for p in re.findall(r"\d+", ins.args)]
    health = final.last("HEALTHCHECK") if final else None
    choice = probes.choose(
        name,
        spec,
        runs,
        image_healthcheck=dockerfile.command_words(health.args.partition("CMD")[2])
        if health and "CMD" in health.args
        else None,
        exposed=exposed,
        routes=code.routes,
        frameworks=code.frameworks,
        base_image=base,
    )
    notes += choice.notes
    installs = any(_PIP_INSTALLS_HERE.search(i.args) for i in (final.all("RUN") if final else []))
    if installs or runs.program in own:  # the repository's package runs from site-packages
        copies.skipped.append("the package is installed with pip: it runs from site-packages")
    covered, covered_why = _coverage(name, runs, paths, copies, notes, root, spec)
    tests = [w for c in runs.commands for w in c[1:] if runs.kind == "tests" and not w.startswith("-")]
    return Service(name, runs, choice.probe, choice.why, covered, covered_why, notes, tests)


def _stages(
    root: Path, name: str, spec: Mapping[str, Any], notes: list[str]
) -> tuple[list[dockerfile.Stage], Path | None]:
    build = spec.get("build")
    if not build:
        return [], None
    context = Path(build.get("context", ".") if isinstance(build, Mapping) else str(build))
    context = context if context.is_absolute() else root / context
    if not inside(context, root):
        notes.append(f"{name}: its build context {context} is outside the repository; not read")
        return [], None
    name_of = build.get("dockerfile", "Dockerfile") if isinstance(build, Mapping) else "Dockerfile"
    path = Path(name_of) if Path(name_of).is_absolute() else context / name_of
    text = read_text(path, root)
    if text is None:
        notes.append(f"{name}: cannot read {path} (missing, outside the repository, or not a file)")
        return [], context
    stages = dockerfile.parse(text)
    target = build.get("target") if isinstance(build, Mapping) else None
    if target:
        upto = next((s.index for s in stages if s.name == target), len(stages) - 1)
        stages = stages[: upto + 1]
    return stages, context


def _argv(spec: Mapping[str, Any], final: dockerfile.Stage | None) -> list[str]:
    """Entrypoint + command as the engine will run them (compose overrides the image)."""

    def words(value: object) -> list[str]:
        if isinstance(value, list):
            return [str(v) for v in value]
        return dockerfile.command_words(str(value)) if value else []

    def image(keyword: str) -> list[str]:
        ins = final.last(keyword) if final else None
        if ins is None:
            return []
        text = ins.args.strip()
        return dockerfile.command_words(text) if text.startswith("[") else ["/bin/sh", "-c", text]

    if spec.get("entrypoint") is not None:
        return words(spec["entrypoint"]) + words(spec.get("command"))
    command = words(spec.get("command")) if spec.get("command") is not None else image("CMD")
    return image("ENTRYPOINT") + command


def _script_text(path: str, paths: Mapping[str, str], context: Path | None, root: Path) -> str | None:
    """The repository's copy of the script the container runs at ``path``."""
    for at, rel in sorted(paths.items(), key=lambda kv: -len(kv[0])):
        if path == at or path.startswith(at.rstrip("/") + "/"):
            found = read_text(root / rel / posixpath.relpath(path, at), root, limit=64 * 1024)
            if found is not None:
                return found
    if context is None:
        return None
    base = posixpath.basename(path)
    for folder in (context, context / "docker", context / "scripts", context / "bin"):
        found = read_text(folder / base, root, limit=64 * 1024)
        if found is not None:
            return found
    return None


def _coverage(
    name: str,
    runs: Runs,
    paths: dict[str, str],
    copies: sources.Mapped,
    notes: list[str],
    root: Path,
    spec: Mapping[str, Any],
) -> tuple[dict[str, str] | None, str]:
    if not runs.python:
        image = spec.get("image") or "its image"
        return (
            None,
            runs.why if runs.kind == "other" and runs.why else f"{image} runs no Python that init can see",
        )
    if runs.kind == "tests":
        return None, f"{runs.why}: its tests run inside the container, not against the stack"
    installed = any("site-packages" in s for s in copies.skipped)
    if not paths and not installed:
        where = "its image" if spec.get("build") else f"the image {spec.get('image')}"
        notes.append(
            f"{name}: runs Python from {where}, but none of this repository's source is in it: not covered"
        )
        return None, "none of the repository's source is in its container"
    for skipped in copies.skipped:
        notes.append(f"{name}: not mapped: {skipped}")
    why = f"{runs.why}; " + (
        ", ".join(f"{c} is {h}" for c, h in sorted(paths.items()))
        if paths
        else "its package is installed with pip (mapped by name)"
    )
    return paths, why


def console_scripts(folders: list[Path], root: Path) -> dict[str, str]:
    """The console scripts (``[project.scripts]``) of the pyproject.toml files in ``folders``."""
    out: dict[str, str] = {}
    for folder in folders:
        text = read_text(folder / "pyproject.toml", root)
        if not text:
            continue
        try:
            scripts = parse_toml(text).get("project", {}).get("scripts", {})
        except ValueError:
            continue
        if isinstance(scripts, dict):
            out.update({str(k): str(v) for k, v in scripts.items()})
    return out
