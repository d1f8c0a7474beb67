"""The reaper on the engine (stack/lease.py, stack/reaper_service.py), on the real engine: a run killed
with SIGKILL, its whole process tree at once, leaves nothing once the reaper has swept, with no stacktest
command run afterwards; a kept stack is the reaper's only after its `--ttl`; the reaper removes itself
when no run needs it.

The killed runs run as another machine (``as_machine``): the reap at the next start of the other tests'
runs (the second line) then leaves their stacks alone, so what removes them here is the reaper alone. A
control run with the reaper turned off shows that without it the stack stays.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from stacktest.adapters.engine import Engine
from stacktest.adapters.engine_model import PROJECT_LABEL
from tests.conftest import as_machine, cleanup_root, labelled_containers, left_nothing, run_cli, wait_until

TRIALS = 20
CONCURRENT = 4
WITHIN = 15.0  # seconds from the kill to an empty engine (the bound)


def stack(root: Path, base_image: str) -> Path:
    """One service with a named volume on the project's network, and a test that passes at once."""
    (root / "suite").mkdir(parents=True)
    (root / "docker-compose.yml").write_text(
        f"services:\n  app:\n    image: {base_image}\n    command: [sleep, infinity]\n    init: true\n"
        "    volumes: [data:/data]\nvolumes:\n  data: {}\n"
    )
    (root / "pyproject.toml").write_text("[tool.stacktest]\ntests = ['suite']\nproject_prefix = 'streaper'\n")
    (root / "suite" / "test_quick.py").write_text("def test_quick():\n    pass\n")
    return root


def resources(engine: Engine, project: str) -> list[str]:
    """Everything on the engine that carries the compose project's label."""
    label = f"{PROJECT_LABEL}={project}"
    client = engine.client
    return (
        [f"container {c['Names'][0]}" for c in labelled_containers(engine, label)]
        + [f"network {n.name}" for n in client.networks.list(filters={"label": label})]
        + [f"volume {v.name}" for v in client.volumes.list(filters={"label": label})]
    )


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, read from /proc."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, ppid in parent.items() if ppid in frontier]
        tree += frontier
    return tree


def kill_tree(pid: int) -> None:
    """SIGKILL the run's whole tree, as a CI runner cutting a job does: its process group, then any
    descendant that left it (found before the first kill, so none is reparented yet)."""
    tree = process_tree(pid)
    for p in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGSTOP)  # frozen: none starts a child meanwhile
    for p in process_tree(pid) + tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)


def start_run(
    root: Path, project: str, *, reaper: bool = True, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`stacktest test` as another machine, in a session of its own (``env``: variables added)."""
    env = (
        os.environ
        | {"STACKTEST_PROJECT_NAME": project, "STACKTEST_REAPER_ENABLED": str(reaper).lower()}
        | (env or {})
    )
    return subprocess.Popen(
        [*as_machine(f"reaper-{project}"), sys.executable, "-m", "stacktest", "test", "-q"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def first_container(engine: Engine, project: str, proc: subprocess.Popen[bytes]) -> float | None:
    """When the run's first container appeared (monotonic), or None when the run ended before."""
    label = f"{PROJECT_LABEL}={project}"
    while proc.poll() is None:
        if labelled_containers(engine, label):
            return time.monotonic()
        time.sleep(0.02)
    return None


def a_killed_run_is_reaped(engine: Engine, root: Path, project: str, env: dict[str, str]) -> None:
    """On the engine ``env`` reaches: a run whose stack is whole (its container, network and volume) is
    killed, its whole tree; within :data:`WITHIN` seconds nothing of it is left, with no later command."""
    killed = start_run(root, project, env=env)
    try:
        assert first_container(engine, project, killed) is not None, killed.communicate()[1].decode()[-3000:]
        assert wait_until(lambda: len(resources(engine, project)) == 3, timeout=60), resources(
            engine, project
        )
        kill_tree(killed.pid)
    finally:
        killed.communicate(timeout=60)
    assert wait_until(lambda: not resources(engine, project), timeout=WITHIN), resources(engine, project)


def test_runs_killed_at_random_points_leave_nothing(
    tmp_path: Path, docker_engine: Engine, base_image: str
) -> None:
    root = stack(tmp_path / "killed", base_image)
    tag = f"{os.getpid()}"
    try:
        # a whole run, once, to know its span from the first container to its exit
        whole = start_run(root, f"streaper-{tag}-whole")
        seen = first_container(docker_engine, f"streaper-{tag}-whole", whole)
        _, err = whole.communicate(timeout=300)
        assert whole.returncode == 0 and seen is not None, err.decode()[-3000:]
        span = time.monotonic() - seen
        rng = random.Random(int(tag))  # a failure names its seed: the pid

        def trial(i: int) -> tuple[float, float, list[str]]:
            project = f"streaper-{tag}-{i}"
            proc = start_run(root, project)
            try:
                started = first_container(docker_engine, project, proc)
                at = rng.uniform(0, span)
                if started is not None:
                    time.sleep(max(0.0, started + at - time.monotonic()))
                killed = time.monotonic()
                kill_tree(proc.pid)
            finally:
                proc.communicate(timeout=60)
            wait_until(lambda: not resources(docker_engine, project), timeout=WITHIN, interval=0.1)
            return at, time.monotonic() - killed, resources(docker_engine, project)

        with ThreadPoolExecutor(CONCURRENT) as pool:
            results = list(pool.map(trial, range(TRIALS)))
        failed = [(i, at, left) for i, (at, _, left) in enumerate(results) if left]
        assert not failed, f"seed {tag}, span {span:.2f}s; (trial, kill at, left): {failed}"

        # the control: with the reaper off, a run killed in its test leaves its stack
        project = f"streaper-{tag}-control"
        proc = start_run(root, project, reaper=False)
        try:
            assert first_container(docker_engine, project, proc) is not None
            assert wait_until(lambda: len(resources(docker_engine, project)) == 3, timeout=60)
            kill_tree(proc.pid)
        finally:
            proc.communicate(timeout=60)
        time.sleep(3)  # longer than the reaper's grace and sweep: it would have removed it by now
        assert len(resources(docker_engine, project)) == 3, resources(docker_engine, project)
    finally:
        cleanup_root(docker_engine, root)


def test_a_kept_stack_is_the_reapers_after_its_ttl_only(
    tmp_path: Path, docker_engine: Engine, base_image: str
) -> None:
    kept = stack(tmp_path / "kept", base_image)
    ttl = stack(tmp_path / "ttl", base_image)
    try:
        assert run_cli(["up"], kept).returncode == 0
        up = run_cli(["up", "--ttl", "3s"], ttl)
        assert up.returncode == 0, up.stderr
        from tests.conftest import engine_leftovers

        assert engine_leftovers(docker_engine, ttl)["containers"]
        assert wait_until(lambda: not any(engine_leftovers(docker_engine, ttl).values()), timeout=3 + WITHIN)
        assert engine_leftovers(docker_engine, kept)["containers"], "a kept stack without --ttl was reaped"
        assert run_cli(["down"], kept).returncode == 0
        bad = run_cli(["up", "--ttl", "soon"], ttl)
        assert bad.returncode == 18 and "--ttl 'soon' is not a duration" in bad.stderr, bad.stderr
    finally:
        left_nothing(docker_engine, kept)
        left_nothing(docker_engine, ttl)


def test_the_reaper_removes_itself_when_no_run_needs_it(
    tmp_path: Path, docker_engine: Engine, base_image: str
) -> None:
    """A reaper of its own (other settings: another reaper), idle after 1 s: after a run, it is gone."""
    root = stack(tmp_path / "idle", base_image)
    env = {"STACKTEST_REAPER_IDLE": "1", "STACKTEST_REAPER_GRACE": "0.5"}
    from stacktest.settings import load_settings
    from stacktest.stack.lease import reaper_name

    name = reaper_name(load_settings().with_overrides(reaper_idle=1.0, reaper_grace=0.5), base_image)
    try:
        result = run_cli(["test", "-q"], root, env=env)
        assert result.returncode == 0, result.stderr
        assert wait_until(lambda: not docker_engine.client.containers.list(all=True, filters={"name": name}),
                          timeout=10), f"the reaper {name} is still there"  # fmt: skip
    finally:
        left_nothing(docker_engine, root)
