"""up, wait, status, logs and down of the bundled stack; two stacks at once; reap; Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import httpx

from stacktest.adapters.engine import Engine
from tests.conftest import (
    NOTHING,
    BindWatcher,
    Spawn,
    as_machine,
    children_of,
    engine_leftovers,
    host_binds,
    labelled_containers,
    run_cli,
    wait_until,
)


def status(project: Path, name: str | None = None) -> dict[str, Any]:
    args = ["status", "--json"] + (["--project", name] if name else [])
    result = run_cli(args, project)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_up_wait_status_logs_down(project: Path, docker_engine: Engine) -> None:
    up = run_cli(["up"], project)
    assert up.returncode == 0, up.stderr
    assert "ready" in up.stderr
    services = status(project)["services"]
    assert set(services) == {"auth", "api", "redis"}
    assert all(s["state"] == "running" for s in services.values())
    assert all(s["ready"] for s in services.values())  # probes answer now
    shown = run_cli(["status"], project).stdout  # not a terminal: one whole line per service
    assert shown.count("ready: yes (") == 3, shown
    for service in ("auth", "api", "redis"):
        assert services[service]["url"] in shown  # the URL whole, never cut to http://127.0…
    auth, api = services["auth"]["url"], services["api"]["url"]
    assert httpx.get(f"{auth}/.well-known/oauth-authorization-server").json()[
        "code_challenge_methods_supported"
    ] == ["S256"]
    assert httpx.post(f"{api}/rpc", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}).status_code == 401
    assert run_cli(["wait"], project).returncode == 0
    logs = run_cli(["logs", "--tail", "50", "api"], project)
    assert logs.returncode == 0 and '"POST /rpc HTTP/1.1" 401' in logs.stdout
    bad = run_cli(["logs", "nope"], project)
    assert bad.returncode == 18 and "unknown service 'nope'" in bad.stderr
    down = run_cli(["down"], project)
    assert down.returncode == 0, down.stderr
    assert engine_leftovers(docker_engine, project) == {"containers": [], "networks": [], "volumes": []}
    assert not list((project / ".stacktest" / "stacks").glob("*.json"))


def test_two_stacks_of_one_checkout_at_once(project: Path) -> None:
    first = run_cli(["up"], project)
    second = run_cli(["up"], project)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    names = sorted(p.stem for p in (project / ".stacktest" / "stacks").glob("*.json"))
    assert len(names) == 2
    urls = [status(project, n)["services"]["auth"]["url"] for n in names]
    assert urls[0] != urls[1]
    for url in urls:
        assert httpx.get(f"{url}/health").json()["status"] == "ok"
    assert run_cli(["down", "--all"], project).returncode == 0


def kill_a_run_midtest(
    project: Path, docker_engine: Engine, spawn: Spawn, machine: list[str]
) -> tuple[int, str]:
    """A `stacktest test` run killed with SIGKILL cannot tear down: its stack stays, labelled with its
    pid. Returns that pid and the stack's compose project. (Run as another machine: the runs of other
    tests meanwhile would remove it as an orphan of this one.)"""
    body = (
        "import pathlib, time\n\ndef test_hang():\n    pathlib.Path('started').touch()\n    time.sleep(600)\n"
    )
    # the reaper off: what is tried here is the second line, the reap at the next start
    off = {"STACKTEST_REAPER_ENABLED": "0"}
    proc = spawn.test_run(project, "test_zz_hang", body, prefix=machine, env=off)
    run_labels = (f"io.stacktest.root={project}", "io.stacktest.run")  # not a build's containers

    def running() -> list[dict[str, Any]]:
        return [c for c in labelled_containers(docker_engine, *run_labels) if c["State"] == "running"]

    assert wait_until((project / "started").exists, timeout=120)  # pytest is in the test
    assert len(running()) == 3
    name = running()[0]["Labels"]["com.docker.compose.project"]
    children = children_of(proc.pid)  # before the kill: then they are init's
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for child, _ in children:
        os.kill(child, signal.SIGKILL)
    (project / "tests" / "stack" / "test_zz_hang.py").unlink()
    assert engine_leftovers(docker_engine, project)["containers"]
    return proc.pid, name


def test_a_stack_whose_run_was_killed_is_shown_by_reap_and_removed_by_the_next_start(
    project: Path, docker_engine: Engine, spawn: Spawn
) -> None:
    machine = as_machine(f"stacktest-test-{os.getpid()}")
    pid, first = kill_a_run_midtest(project, docker_engine, spawn, machine)
    show = run_cli(["reap"], project, prefix=machine)
    assert show.returncode == 0 and f"pid {pid}" in show.stdout and "is gone" in show.stdout
    assert engine_leftovers(docker_engine, project)["containers"], "reap without --yes must not delete"
    client = docker_engine.client
    second = run_cli(["test", "tests/stack/test_errors.py", "-q"], project, prefix=machine)
    assert second.returncode == 0, second.stderr
    assert f"removed stack {first}: its run (pid {pid}) died without removing it" in second.stderr
    left = client.containers.list(all=True, filters={"label": f"com.docker.compose.project={first}"})
    assert left == []
    assert (
        engine_leftovers(docker_engine, project) == NOTHING
    )  # its networks and volumes, and the second run's


def test_reap_removes_images_of_checkouts_that_are_gone(
    tmp_path: Path, docker_engine: Engine, base_image: str
) -> None:
    checkout = tmp_path / "gone"
    checkout.mkdir()
    (checkout / "Dockerfile").write_text(f'FROM {base_image}\nCMD ["sleep", "infinity"]\n')
    (checkout / "docker-compose.yml").write_text("services:\n  app:\n    build: .\n    init: true\n")
    (checkout / "pyproject.toml").write_text("[tool.stacktest]\nproject_prefix = 'streap'\n")
    assert run_cli(["up"], checkout).returncode == 0
    assert run_cli(["down"], checkout).returncode == 0
    client = docker_engine.client
    built = client.images.list(filters={"label": f"io.stacktest.root={checkout}"})
    assert len(built) == 1 and built[0].tags[0].startswith("streap-")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shown = run_cli(["reap"], elsewhere)
    assert str(checkout) not in shown.stdout  # the checkout still exists: its image is not stale
    checkout.rename(tmp_path / "moved")
    shown = run_cli(["reap"], elsewhere)
    assert f"built for {checkout}, which no longer exists" in shown.stdout
    removed = run_cli(["reap", "--yes"], elsewhere)
    assert removed.returncode == 0 and "removed image streap-" in removed.stdout
    assert client.images.list(filters={"label": f"io.stacktest.root={checkout}"}) == []


def test_stacktest_mounts_no_folder_of_this_machine(project: Path, docker_engine: Engine) -> None:
    """What stacktest adds to a stack reaches the containers through the Engine API, never through a bind
    mount of a host path (a remote engine would mount an empty folder, and measure nothing): the bundled
    stack has none, so a covered run of it must have none either, and nothing of it stays behind."""
    client = docker_engine.client
    result = run_cli(["coverage", "run", "--keep", "-k", "oauth"], project)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    try:
        containers = client.containers.list(all=True, filters={"label": f"io.stacktest.root={project}"})
        assert {c.labels["com.docker.compose.service"] for c in containers} == {"auth", "api", "redis"}
        for container in containers:
            assert host_binds(container.attrs) == [], container.name
        spy = [c for c in containers if "/coverage-spy" in {m["Destination"] for m in c.attrs["Mounts"]}]
        assert {c.labels["com.docker.compose.service"] for c in spy} == {"auth", "api"}
        assert all(
            m["RW"] is False for c in spy for m in c.attrs["Mounts"] if m["Destination"] == "/coverage-spy"
        )
    finally:
        assert run_cli(["down"], project).returncode == 0
    # and the spy, delivered so, measured both services
    report = json.loads((project / ".stacktest" / "coverage" / "latest" / "coverage.json").read_text())
    measured = {s for s in ("auth", "api") for name, f in report["files"].items()
                if f"services/{s}/" in name and f["summary"]["covered_lines"]}  # fmt: skip
    assert measured == {"auth", "api"}, sorted(report["files"])


def test_the_session_watcher_sees_a_bind_mount_of_a_host_path(
    tmp_path: Path, docker_engine: Engine, base_image: str
) -> None:
    """The session-wide property (tests/conftest.py BindWatcher) is not vacuous: a container with the
    watched label and a bind mount its compose files never declared is reported. (Another label than
    stacktest's, so that the session's own watcher does not count this one.)"""
    watcher = BindWatcher()
    client = docker_engine.client
    watcher.watch(client, label="io.stacktest.test-watcher")
    container = client.containers.create(
        base_image,
        ["true"],
        labels={"io.stacktest.test-watcher": "1"},
        volumes={str(tmp_path): {"bind": "/host", "mode": "ro"}},
    )
    try:
        container.start()
        assert wait_until(lambda: watcher.found, timeout=10)
    finally:
        container.remove(force=True)
        watcher.stop()
    assert watcher.found == [f"/{container.name}: {tmp_path} -> /host"]
