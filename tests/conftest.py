"""Fixtures shared by stacktest's own tests.

Tests under integration/, e2e/ and reliability/ need a real Docker Engine. Without one they skip on a
developer's machine and FAIL under CI=true, so a CI without an engine can never pass by skipping.
Each of them works in a copy of the bundled project in a temporary folder, so its state file and its
stacks never meet the developer's own (every container, network and volume is labelled with that folder).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from stacktest.adapters.engine import Engine
from stacktest.errors import StacktestError

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]
STACKS = REPO / "tests" / "integration" / "stacks"  # test-only stacks: faults, cov
NOTHING: dict[str, list[str]] = {"containers": [], "networks": [], "volumes": []}
ENGINE_DIRS = ("integration", "e2e", "reliability")
IN_CI = os.environ.get("CI", "").lower() == "true"

# test-only stacks and their suites, run by the tests through stacktest, never collected directly
collect_ignore = ["integration/stacks", "corpus"]


# the tests that need the stand-in images of tests/corpus/repos/_images (about 90 s to build from nothing)
STAND_IN_USERS = ("tests/e2e/test_init_repos.py", "tests/integration/test_sql.py")
_prebuild: list[threading.Thread] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(REPO).parts
        if len(parts) > 1 and parts[0] == "tests" and parts[1] in ENGINE_DIRS:
            item.add_marker(pytest.mark.docker)
            if parts[1] == "reliability":
                item.add_marker(pytest.mark.reliability)
    # last, so that the images are built (pytest_sessionstart) while the other tests run: not idle workers
    items.sort(key=lambda i: Path(str(i.fspath)).relative_to(REPO).as_posix() in STAND_IN_USERS)


def pytest_sessionstart(session: pytest.Session) -> None:
    """In the main process of a run that includes the tests needing the stand-in images, build them in
    the background; a test that needs them waits on their lock (tests/corpus/repos/_images/build.py)."""
    if hasattr(session.config, "workerinput"):
        return
    chosen = [str(a).split("::")[0].rstrip("/") for a in session.config.args]
    if not any(a in ("tests", ".", "") or any(u.startswith(a) for u in STAND_IN_USERS) for a in chosen):
        return

    def build() -> None:
        try:
            engine = Engine.connect(timeout=15)
        except StacktestError:
            return  # the tests that need the engine say so
        try:
            stand_in_images(engine)
        except Exception as exc:  # the tests that need the images build them again and fail there
            print(f"building the stand-in images in the background failed: {exc}", file=sys.stderr)
        finally:
            engine.close()

    thread = threading.Thread(target=build, name="stand-in-images", daemon=True)
    thread.start()
    _prebuild.append(thread)


def pytest_sessionfinish(session: pytest.Session) -> None:
    for thread in _prebuild:
        thread.join(timeout=900)


class BindWatcher:
    """The property that lets stacktest work on an engine that does not share this machine's files: no
    container stacktest starts has a bind mount of a host path that the stack's own compose files did not
    declare. Every container start on every engine the session uses is inspected as it happens."""

    def __init__(self) -> None:
        self.found: list[str] = []
        self._closing = False
        self._streams: list[tuple[Any, threading.Thread]] = []

    def watch(self, client: Any, label: str = "io.stacktest.root") -> None:
        """Watch the containers with ``label`` (stacktest's own) that ``client``'s engine starts."""
        stream = client.events(decode=True, filters={"type": "container", "event": "start", "label": label})
        thread = threading.Thread(target=self._read, args=(client, stream), daemon=True)
        thread.start()
        self._streams.append((stream, thread))

    @staticmethod
    def _inspect(client: Any, container_id: str) -> dict[str, Any]:
        """The container's attributes. requests reads the proxy variables by iterating os.environ, which
        pytest changes meanwhile in the main thread (PYTEST_CURRENT_TEST): a KeyError then is that race,
        not the engine's answer, and the call is made again."""
        for _ in range(5):
            try:
                return dict(client.api.inspect_container(container_id))
            except KeyError:
                continue
        return dict(client.api.inspect_container(container_id))

    def _read(self, client: Any, stream: Iterator[dict[str, Any]]) -> None:
        import docker.errors
        import requests
        import urllib3.exceptions

        try:
            for event in stream:
                try:
                    attrs = self._inspect(client, event["id"])
                except docker.errors.NotFound:
                    continue  # removed already: nothing to inspect
                declared = _declared_targets(attrs["Config"]["Labels"])
                for mount in host_binds(attrs):
                    if mount["Destination"] not in declared:
                        self.found.append(f"{attrs['Name']}: {mount['Source']} -> {mount['Destination']}")
        except (OSError, requests.RequestException, urllib3.exceptions.HTTPError):
            return  # the stream was closed, or its engine stopped
        except Exception as exc:  # a watcher that stopped watching must not pass silently
            if not self._closing:
                self.found.append(f"the watcher failed: {exc!r}")

    def stop(self) -> None:
        self._closing = True
        for stream, thread in self._streams:
            stream.close()
            thread.join(timeout=5)


def _declared_targets(labels: dict[str, str]) -> set[str]:
    """The container folders the service's own compose files mount (stacktest's overlays excluded)."""
    import yaml

    service = labels.get("com.docker.compose.service", "")
    targets: set[str] = set()
    for name in labels.get("com.docker.compose.project.config_files", "").split(","):
        path = Path(name)
        if not name or ".stacktest" in path.parts or not path.is_file():
            continue
        document = yaml.safe_load(path.read_text()) or {}
        for volume in ((document.get("services") or {}).get(service) or {}).get("volumes") or []:
            target = volume.get("target") if isinstance(volume, dict) else str(volume).split(":")[1:2]
            targets.update([target] if isinstance(target, str) else target or [])
    return targets


# The modules whose tests share one started stack (kept_stack): under `--dist loadgroup` (just check) each
# goes to one xdist worker as a whole, every other test on its own. xdist's own `xdist_group` mark cannot
# do it with pytest 9.2: it renames node ids, which no longer takes effect, and the mark is silently
# ignored (pytest-dev/pytest-xdist#1386).
SHARED_STACK_MODULES = frozenset(
    {
        "tests/e2e/test_recipes.py",
        "tests/e2e/test_terminal.py",
        "tests/integration/test_cleanup_live.py",
        "tests/integration/test_sql.py",
    }
)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    def scope(nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        return module if module in SHARED_STACK_MODULES else nodeid

    scheduling = LoadScopeScheduling(config, log)
    scheduling._split_scope = scope  # a work unit: a shared-stack module, else one test
    return scheduling


@pytest.fixture(scope="session")
def bind_watcher() -> Iterator[BindWatcher]:
    watcher = BindWatcher()
    yield watcher
    watcher.stop()
    assert not watcher.found, f"stacktest started containers with bind mounts of host paths: {watcher.found}"


@pytest.fixture(scope="session")
def docker_engine(bind_watcher: BindWatcher) -> Iterator[Engine]:
    """stacktest's own adapter of the engine, connected, or a skip (a failure under CI=true). Every
    container started on it is checked by ``bind_watcher``."""
    from stacktest.errors import EngineUnavailable

    try:
        engine = Engine.connect(timeout=10)
    except EngineUnavailable as exc:
        if IN_CI:
            pytest.fail(f"CI=true and no Docker Engine: {exc}", pytrace=False)
        pytest.skip(f"no Docker Engine: {exc}")
    bind_watcher.watch(engine.client)
    yield engine
    engine.close()


def required_tool(name: str) -> str:
    """The path of a program a test needs (chromium, tmux): scripts/setup installs them; a skip on a
    developer's machine without it, a failure under CI=true."""
    import shutil

    found = shutil.which(name)
    if found is None:
        if IN_CI:
            pytest.fail(f"CI=true and {name} is not installed (scripts/setup installs it)", pytrace=False)
        pytest.skip(f"{name} is not installed (scripts/setup installs it)")
    return found


def artifact_dir() -> Path:
    """Where tests keep what a person should look at after a run (screenshots): STACKTEST_TEST_ARTIFACTS,
    else .stacktest/test-artifacts of this checkout. CI uploads it."""
    folder = Path(os.environ.get("STACKTEST_TEST_ARTIFACTS") or REPO / ".stacktest" / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def base_image(docker_engine: Engine) -> str:
    """The offline base image the test stacks build on, made as the bundled stack makes it."""
    from stacktest.adapters import images as _images
    from stacktest.settings import load_settings

    settings = load_settings(config=REPO / "pyproject.toml", environ={})
    _images.ensure_base_image(docker_engine, settings)
    return settings.base_image


@pytest.fixture(autouse=True)
def _not_an_xdist_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """This suite runs on xdist workers; the pytest runs its tests start are not workers of that run."""
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _engine_for_docker_tests(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("docker") is not None:
        request.getfixturevalue("docker_engine")


def copy_project(dest: Path, *, with_suite: bool = True) -> Path:
    """The bundled project (settings, stack, spy, live suite) in ``dest``, with the wheels its images
    install: fetched once into this checkout's compose/services/*/wheels (as `just test` there does), then
    copied, so that the tens of copies a run makes do not each run ``pip download``."""
    from stacktest.adapters import images as _images

    services = REPO / "compose" / "services"
    _images.ensure_wheels({s.name: s for s in services.iterdir() if (s / "requirements.txt").is_file()})
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "pyproject.toml", dest / "pyproject.toml")
    shutil.copytree(REPO / "compose", dest / "compose", ignore=shutil.ignore_patterns("__pycache__"))
    if with_suite:
        (dest / "tests").mkdir()
        shutil.copy2(REPO / "tests" / "__init__.py", dest / "tests" / "__init__.py")
        shutil.copytree(
            REPO / "tests" / "stack", dest / "tests" / "stack", ignore=shutil.ignore_patterns("__pycache__")
        )
    return dest


@pytest.fixture
def project(tmp_path: Path, docker_engine: Engine) -> Iterator[Path]:
    """A private copy of the bundled project; afterwards nothing of it may remain on the engine."""
    root = copy_project(tmp_path / "proj")
    yield root
    left_nothing(docker_engine, root)


def session_folder(tmp_path_factory: pytest.TempPathFactory, config: pytest.Config) -> Path:
    """The temporary folder of the whole session, shared by its xdist workers (a worker's own is
    popen-gwN/ inside it): for files that coordinate the workers."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if hasattr(config, "workerinput") else base


class KeptStacks:
    """Started copies of the bundled project, one per name, kept for the session (the ``kept_stack``
    fixture): pytest may tear a module's fixtures down and set them up again when an xdist worker runs
    other modules' tests in between; a stack must not be started twice for that."""

    def __init__(self, top: Path, engine: Engine, lock: Path) -> None:
        self.top, self.engine, self.lock = top, engine, lock
        self.roots: dict[str, Path] = {}

    def get(self, name: str) -> Path:
        if name not in self.roots:
            from stacktest.locks import exclusive

            root = copy_project(self.top / name / "proj")
            self.roots[name] = root
            # one start at a time across the workers: they all begin with one, and started together they
            # each built the bundled images from nothing at once; one after the other, the first builds
            # and the others find every layer cached
            with exclusive(self.lock):
                up = run_cli(["up"], root)
            assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        return self.roots[name]

    def close(self) -> None:
        downs = {name: run_cli(["down"], root) for name, root in self.roots.items()}
        for root in self.roots.values():
            left_nothing(self.engine, root)
        failed = {name: d.stderr[-2000:] for name, d in downs.items() if d.returncode != 0}
        assert not failed, f"`stacktest down` failed: {failed}"


@pytest.fixture(scope="session")
def kept_stacks(
    tmp_path_factory: pytest.TempPathFactory, docker_engine: Engine, pytestconfig: pytest.Config
) -> Iterator[KeptStacks]:
    lock = session_folder(tmp_path_factory, pytestconfig) / "kept-stacks-up.lock"
    stacks = KeptStacks(tmp_path_factory.mktemp("kept"), docker_engine, lock)
    yield stacks
    stacks.close()


@pytest.fixture
def kept_stack(request: pytest.FixtureRequest, kept_stacks: KeptStacks) -> Path:
    """The bundled project with its stack started once (`stacktest up`) for the tests of one module that
    only read it or clean up after themselves (list the module in SHARED_STACK_MODULES, so that its tests
    run on one worker and share it); removed at the end of the session, and nothing of it may remain."""
    return kept_stacks.get(request.module.__name__.rsplit(".", 1)[-1])


@pytest.fixture
def stack_copy(tmp_path: Path, docker_engine: Engine) -> Iterator[Callable[[str], Path]]:
    """``stack_copy("faults")``: a private copy of a test-only stack; afterwards nothing of it may remain."""
    roots: list[Path] = []

    def make(name: str) -> Path:
        root = tmp_path / name
        shutil.copytree(STACKS / name, root)
        roots.append(root)
        return root

    yield make
    for root in roots:
        left_nothing(docker_engine, root)


def wait_until(condition: Callable[[], object], *, timeout: float, interval: float = 0.2) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes; returns whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())


def children_of(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of each direct child of ``pid``: find our own children by id, never by name."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append((int(entry.name), cmdline))
    return out


def labelled_containers(engine: Engine, *labels: str) -> list[dict[str, Any]]:
    """The engine's summaries (``Names``, ``Labels``, ``State``) of every container, running or not, with
    all ``labels`` (``key`` or ``key=value``). One list call: the SDK's ``containers.list`` inspects each
    container it listed, and fails with 404 for one that is being created (the engine lists a container
    before inspect can find it: moby's create checkpoints it to the list's view before registering it)
    or removed meanwhile. CI saw the first while `up` created its containers."""
    client = engine.client
    return list(client.api.containers(all=True, filters={"label": list(labels)}))


def container_name(summary: Mapping[str, Any]) -> str:
    return str(summary["Names"][0]).lstrip("/")


def engine_leftovers(engine: Engine, root: Path) -> dict[str, list[str]]:
    from stacktest.adapters.engine_model import LABEL_ROOT

    client = engine.client
    owned = f"{LABEL_ROOT}={root}"
    return {
        "containers": sorted(container_name(c) for c in labelled_containers(engine, owned)),
        "networks": sorted(n.name for n in client.networks.list(filters={"label": owned})),
        "volumes": sorted(v.name for v in client.volumes.list(filters={"label": owned})),
    }


def cleanup_root(engine: Engine, root: Path) -> None:
    """Remove whatever a failed test left, so one failure does not cascade."""
    from stacktest.adapters.engine_model import LABEL_ROOT, PROJECT_LABEL

    client = engine.client
    owned = f"{LABEL_ROOT}={root}"
    projects = {c["Labels"].get(PROJECT_LABEL) for c in labelled_containers(engine, owned)}
    volumes = client.volumes.list(filters={"label": owned})
    projects |= {v.attrs.get("Labels", {}).get(PROJECT_LABEL) for v in volumes}
    for p in projects - {None}:
        engine.remove_project(p)


def left_nothing(engine: Engine, root: Path) -> None:
    """After a test: what its stacks left on the engine is removed (one failure must not cascade), and it
    must have been nothing. The one leftover check of every fixture that starts stacks."""
    leftovers = engine_leftovers(engine, root)
    cleanup_root(engine, root)
    assert leftovers == NOTHING, f"left behind: {leftovers}"


def as_machine(name: str) -> list[str]:
    """A command prefix that runs a program as if on another machine called ``name`` (a UTS namespace of
    its own): the stacks it starts are that machine's, which the stacktest runs of other tests, at the
    same time on this one, never remove as orphans of theirs. Needs root and unshare."""
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("CI=true and not root: another machine's name needs root", pytrace=False)
        pytest.skip("another machine's name needs root")
    required_tool("unshare")
    become = "import os, socket, sys; socket.sethostname(sys.argv[1]); os.execvp(sys.argv[2], sys.argv[2:])"
    return ["unshare", "--uts", "--", sys.executable, "-c", become, name]


class Spawn:
    """The background processes of one test (the ``spawn`` fixture). ``spawn(argv, **popen_kwargs)``
    starts one in text mode. When the test ends, each one still running (a failure midway) is killed,
    and each is reaped with its pipes closed, so that none outlives its test: a leaked ``Popen`` warns
    (ResourceWarning) when the garbage collector gets to it, which fails whichever later test that is."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def __call__(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[str]:
        proc: subprocess.Popen[str] = subprocess.Popen(list(argv), text=True, **kwargs)
        self.procs.append(proc)
        return proc

    def test_run(
        self,
        project: Path,
        name: str,
        body: str,
        *,
        stderr: int = subprocess.DEVNULL,
        prefix: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[str]:
        """Write ``tests/stack/<name>.py`` with ``body`` and start ``stacktest test`` on it (``prefix``:
        a command it runs under, as ``as_machine``'s; ``env``: variables added to this process's)."""
        (project / "tests" / "stack" / f"{name}.py").write_text(body)
        return self(
            [*prefix, sys.executable, "-m", "stacktest", "test", f"tests/stack/{name}.py"],
            cwd=project,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=None if env is None else os.environ | dict(env),
        )

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    processes = Spawn()
    yield processes
    processes.close()


def report_dir(stdout: str) -> Path:
    """The report folder a coverage run or snapshot printed (``html: FOLDER/html``)."""
    match = re.search(r"html: (\S+)/html", stdout)
    assert match, stdout[-2000:]
    return Path(match[1])


def service_lines(folder: Path, service: str) -> dict[str, set[int]]:
    """Covered lines of each file of ``service`` in a report folder, by path below ``services/``."""
    import coverage

    data = coverage.CoverageData(basename=str(folder / f".coverage.{service}"))
    data.read()
    return {f.split("/services/")[-1]: set(data.lines(f) or ()) for f in data.measured_files()}


def host_binds(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    """The bind mounts of a host path among an inspected container's mounts."""
    return [m for m in attrs["Mounts"] if m["Type"] == "bind"]


def run_cli(
    args: Sequence[str],
    cwd: Path,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    prefix: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """``python -m stacktest ARGS`` in ``cwd``, captured (``prefix``: a command it runs under)."""
    full_env = dict(os.environ) | {"NO_COLOR": "1", "COLUMNS": "200"} | (env or {})
    return subprocess.run(
        [*prefix, sys.executable, "-m", "stacktest", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def stand_in_images(engine: Engine) -> None:
    """The images tests/corpus/repos/_images makes (python, postgres, mariadb, nginx, redis stand-ins),
    built once for all workers when missing."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "corpus_images_build", REPO / "tests" / "corpus" / "repos" / "_images" / "build.py"
    )
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    build.ensure_images(engine)
