"""Where a service's Python source sits in its container, mapped to the repository: from the final
stage of its Dockerfile (``COPY``/``ADD`` of folders and single files, ``WORKDIR``, ``COPY --from`` of an
earlier stage's copy) and from bind mounts, which hide what the image has at their target.

Only Python source of the final image is mapped: a copy that a later ``RUN`` deletes or installs with
pip (the package then runs from site-packages, which stacktest maps by the package's name), wheels,
requirements and folders without a ``.py`` file are not, each with its reason.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacktest.adopt.dockerfile import Stage
from stacktest.adopt.files import inside, python_files

__all__ = ["Mapped", "bind_mounts", "from_stages"]


@dataclass
class Mapped:
    paths: dict[str, str] = field(default_factory=dict)  # container path -> repository path
    skipped: list[str] = field(default_factory=list)  # what was not mapped, and why


def from_stages(stages: list[Stage], context: Path, root: Path) -> Mapped:
    """The final stage's copies of Python source, as container path -> path in ``root``."""
    out = Mapped()
    if not stages:
        return out
    copies = _copies(stages, len(stages) - 1, context, depth=0)
    final = stages[-1]
    later_runs = [(i, ins.args) for i, ins in enumerate(final.instructions) if ins.keyword == "RUN"]
    for position, dest, host in copies:
        if not inside(host, root):
            out.skipped.append(f"{dest}: from {host}, outside the repository")
            continue
        rel = host.resolve().relative_to(root.resolve()).as_posix() or "."
        source = host.suffix == ".py" if host.is_file() else any(True for _ in python_files(host, root))
        if not source:
            if host.is_dir():
                out.skipped.append(f"{dest}: {rel} holds no Python file")
            continue
        gone = _undone(dest, [a for i, a in later_runs if i > position])
        if gone:
            out.skipped.append(f"{dest}: {gone}")
            continue
        if host.is_file():  # coverage maps folders: the file's folder in the image to its folder here
            out.paths.setdefault(posixpath.dirname(dest) or "/", Path(rel).parent.as_posix())
            continue
        if Path(rel).name in ("wheels", "dist", "requirements"):
            out.skipped.append(f"{dest}: {rel} is not source")
            continue
        out.paths[dest.rstrip("/") or "/"] = rel
    return out


def _copies(stages: list[Stage], index: int, context: Path, depth: int) -> list[tuple[int, str, Path]]:
    """(instruction position, container path, host path) of each copy into stage ``index``; a
    ``COPY --from=<stage>`` resolved to what that stage had copied from the context at that path."""
    stage = stages[index]
    workdir = _workdir(stage.parent) if stage.parent is not None else "/"
    out: list[tuple[int, str, Path]] = []
    if stage.parent is not None and depth <= 3:  # FROM an earlier stage: its copies are here too
        out += [(-1, at, host) for _, at, host in _copies(stages, stage.parent.index, context, depth + 1)]
    for position, ins in enumerate(stage.instructions):
        if ins.keyword == "WORKDIR":
            workdir = posixpath.normpath(posixpath.join(workdir, ins.args.strip()))
            continue
        if ins.keyword not in ("COPY", "ADD"):
            continue
        words = ins.words
        if len(words) < 2 or any("://" in w for w in words):
            continue  # ADD of a URL
        dest = words[-1] if words[-1].startswith("/") else posixpath.join(workdir, words[-1])
        into = len(words) > 2 or words[-1].endswith("/")  # files go into dest/ under their own names
        source_stage = ins.flags.get("from")
        for src in words[:-1]:
            if source_stage is not None:
                earlier = next((s for s in stages[:index] if s.name == source_stage), None)
                if earlier is None or depth > 3:
                    continue  # an image, not a stage: nothing of the repository
                brought = _from_stage(
                    posixpath.normpath(src), _copies(stages, earlier.index, context, depth + 1)
                )
                hosts = [
                    (posixpath.join(dest, rel) if rel else posixpath.normpath(dest), h) for rel, h in brought
                ]
            else:
                pattern = any(c in src for c in "*?[")
                hosts = [
                    (posixpath.normpath(dest), h)
                    for h in (sorted(context.glob(src)) if pattern else [context / src])
                ]
            for at, host in hosts:
                named = posixpath.join(at, host.name) if host.is_file() and (into or pattern) else at
                if host.exists():
                    out.append((position, named, host))
    return out


def _workdir(stage: Stage) -> str:
    """The working folder at the end of ``stage`` (and of the stages it is FROM)."""
    workdir = _workdir(stage.parent) if stage.parent is not None else "/"
    for ins in stage.instructions:
        if ins.keyword == "WORKDIR":
            workdir = posixpath.normpath(posixpath.join(workdir, ins.args.strip()))
    return workdir


def _from_stage(src: str, copies: list[tuple[int, str, Path]]) -> list[tuple[str, Path]]:
    """What ``COPY --from=<stage> src`` brings of the repository: the stage's copies under ``src``."""
    out = []
    for _, copied_to, host in copies:
        at = posixpath.normpath(copied_to)
        if src == at or src.startswith(at + "/"):
            out.append(("", host / posixpath.relpath(src, at) if src != at else host))
        elif at.startswith(src + "/"):
            out.append((posixpath.relpath(at, src), host))
    return out


def _undone(dest: str, runs: list[str]) -> str:
    """Why a copy to ``dest`` is not source of the final image ('' when it is)."""
    for run in runs:
        try:
            words = shlex.split(run)
        except ValueError:
            words = run.split()
        for i, w in enumerate(words):
            path = posixpath.normpath(w.rstrip("/")) if w.startswith("/") else None
            if path is None or not (dest.rstrip("/") == path or dest.startswith(path + "/")):
                continue
            before = words[max(0, i - 4) : i]
            if "rm" in before:
                return "a later RUN deletes it"
            if "install" in before and "-e" not in before and "--editable" not in before:
                return "a later RUN installs it with pip: it runs from site-packages (mapped by package name)"
    return ""


def bind_mounts(spec: Mapping[str, Any], root: Path) -> Mapped:
    """Bind mounts of repository folders (or ``.py`` files) into a service: container path -> path."""
    out = Mapped()
    for volume in spec.get("volumes") or []:
        if isinstance(volume, Mapping):
            if volume.get("type") != "bind":
                continue
            source, target = str(volume.get("source") or ""), str(volume.get("target") or "")
        else:
            parts = str(volume).split(":")
            if len(parts) < 2 or not parts[0].startswith(("/", ".")):
                continue
            source, target = parts[0], parts[1]
        host = Path(source) if Path(source).is_absolute() else root / source
        if not target or not inside(host, root):
            continue
        rel = host.resolve().relative_to(root.resolve()).as_posix() or "."
        if (host.is_file() and host.suffix == ".py") or (
            host.is_dir() and any(True for _ in python_files(host, root))
        ):
            out.paths[target.rstrip("/") or "/"] = rel
    return out
