"""Which projects on an engine are stacks stacktest made: by labels each container carries as its own
(not inherited from its image) and that name the project it is in (see stack/owner.py)."""

from __future__ import annotations

import docker
import docker.errors

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
    PROJECT_LABEL,
    StackInfo,
)

__all__ = ["stacks"]

_OWNING = (LABEL_RUN, LABEL_TOKEN, LABEL_OWNER, LABEL_PID)  # labels that make a container stacktest's


def stacks(client: docker.DockerClient) -> list[StackInfo]:
    """Every stack stacktest started on this engine, found by its labels. A project is one only when
    each of its containers carries stacktest's labels as its own (not inherited from its image) and
    names the project it is in; any other project, or one mixed with strangers' containers, is left
    out (it is never reaped)."""
    found: dict[str, StackInfo] = {}
    foreign: set[str] = set()
    images: dict[str, dict[str, str]] = {}
    for summary in client.api.containers(all=True, filters={"label": LABEL_RUN}):
        labels = summary.get("Labels") or {}
        project = labels.get(PROJECT_LABEL, "")
        if not project:
            continue
        image = str(summary.get("ImageID") or "")
        if image not in images:
            images[image] = _image_labels(client, image)
        inherited = {k for k in _OWNING if k in images[image] and labels.get(k) == images[image][k]}
        if labels.get(LABEL_RUN) != project or inherited:
            foreign.add(project)  # its labels come from its image, or name another project
            continue
        prev = found.get(project)
        if prev is not None and prev.token != labels.get(LABEL_TOKEN, ""):
            foreign.add(project)  # two runs' tokens in one project: not one run's stack
        found[project] = StackInfo(
            project=project,
            run=labels.get(LABEL_RUN, ""),
            checkout=labels.get(LABEL_CHECKOUT, ""),
            root=labels.get(LABEL_ROOT, ""),
            pid=int(labels.get(LABEL_PID, "0") or 0),
            host=labels.get(LABEL_HOST, ""),
            created=float(labels.get(LABEL_CREATED, "0") or 0),
            containers=(prev.containers if prev else 0) + 1,
            kept=labels.get(LABEL_KEPT) == "true",
            owner=labels.get(LABEL_OWNER, ""),
            token=labels.get(LABEL_TOKEN, ""),
        )
    for summary in client.api.containers(all=True, filters={"label": PROJECT_LABEL}):
        labels = summary.get("Labels") or {}
        if labels.get(PROJECT_LABEL) in found and not labels.get(LABEL_RUN):
            foreign.add(labels[PROJECT_LABEL])  # a container stacktest did not make, in that project
    return sorted((s for p, s in found.items() if p not in foreign), key=lambda s: s.created)


def _image_labels(client: docker.DockerClient, image_id: str) -> dict[str, str]:
    if not image_id:
        return {}
    try:
        attrs = client.api.inspect_image(image_id)
    except docker.errors.DockerException:
        return {}
    return dict((attrs.get("Config") or {}).get("Labels") or {})
