"""How stacktest's own costs grow, each curve measured on this machine in one run, and docs/scaling.md
written from them:

- readiness against the number of services (1 to 30): generated stacks of N small HTTP services (one
  image, an HTTP probe each), after one unmeasured start (a process's first start pays one-time imports
  and set-up, about 0.1 s); for each N, `compose up -d`, stacktest's wait, and its delay after the
  last service started listening (each service says when, at /started);
- harvest plus combine against the number of data files (1,000 to 20,000), next to a bare
  `coverage combine` of the same files (benchmarks/combine.py's trial);
- harvest against the number of covered containers (1 to 30 replicas sharing one data volume, as the
  replicas of a covered service do, 10 data files each).

Each curve is fitted with a line (least squares); the fits extrapolate to a 200-service stack and a
100,000-file run.

    python benchmarks/scaling.py [--services 1 5 10 20 30] [--files 1000 5000 10000 20000]
                                 [--replicas 1 5 10 20 30] [--trials 2]
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import yaml
from _common import REPO, machine, median, record
from combine import make_files
from combine import trial as combine_trial

from stacktest.adapters.endpoint import engine_host
from stacktest.adapters.engine import Engine
from stacktest.coverage import harvest as _harvest
from stacktest.coverage import spy as _spy
from stacktest.settings import load_settings
from stacktest.stack import lifecycle as stacks

SERVER = REPO / "tests" / "corpus" / "_shared" / "server.py"
IMAGE = "stacktest-bench-scaling:1"
FILES_PER_REPLICA = 10
DOC = REPO / "docs" / "scaling.md"


def fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """(intercept, slope) of the least-squares line through the points."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    return my - slope * mx, slope


def build_image(engine: Engine, base: str, work: Path) -> None:
    context = work / "image"
    (context / "app").mkdir(parents=True)
    shutil.copy2(SERVER, context / "app" / "server.py")
    (context / "Dockerfile").write_text(f'FROM {base}\nCOPY app/ /app/\nCMD ["python3", "/app/server.py"]\n')
    engine.client.images.build(path=str(context), tag=IMAGE, rm=True)


def services_project(root: Path, count: int) -> Path:
    root.mkdir(parents=True)
    names = [f"s{i:03d}" for i in range(1, count + 1)]
    env = {"START_DELAY": "0"}
    compose = {
        "services": {n: {"image": IMAGE, "environment": env, "ports": ["127.0.0.1::8000"]} for n in names}
    }
    (root / "docker-compose.yml").write_text(yaml.safe_dump(compose))
    probes = "\n".join(f'[tool.stacktest.probes.{n}]\nhttp = "/health"\nport = 8000\n' for n in names)
    (root / "pyproject.toml").write_text(
        f'[tool.stacktest]\ncompose_files = ["docker-compose.yml"]\nproject_prefix = "scaling"\n\n{probes}'
    )
    return root


def readiness_trial(root: Path) -> tuple[float, float, float]:
    """(compose up -d, stacktest's wait, its delay after the last service started listening), seconds."""
    settings = load_settings(config=root / "pyproject.toml", environ={})
    begin = time.monotonic()
    started = stacks.start(settings)
    try:
        up = time.monotonic()
        started.wait()
        ready_wall, ready = time.time(), time.monotonic()
        host = engine_host()
        with httpx.Client(timeout=5, trust_env=False) as client:
            listening = [
                float(client.get(f"http://{host}:{st.ports[8000]}/started").json()["listening_at"])
                for st in started.states().values()
            ]
        return up - begin, ready - up, ready_wall - max(listening)
    finally:
        stacks.teardown(started)


def harvest_trial(engine: Engine, count: int, work: Path) -> float:
    """Harvest of one covered service with ``count`` stopped replicas sharing its data volume."""
    rng = random.Random(count)
    volume = engine.client.volumes.create()
    containers = [
        engine.client.containers.create(IMAGE, ["true"], volumes={volume.name: {"bind": _spy.DATA_ROOT}})
        for _ in range(count)
    ]
    try:
        buf = io.BytesIO()
        files = work / f"replicas-{count}"
        files.mkdir(parents=True)
        for container in containers:
            container.reload()
            make_files(files, container.attrs["Config"]["Hostname"], FILES_PER_REPLICA, rng)
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for f in files.iterdir():
                tar.add(f, arcname=f"{Path(_spy.DATA_DIR).name}/{f.name}")
        containers[0].put_archive(_spy.DATA_ROOT, buf.getvalue())
        states = [engine.inspect(c.id) for c in containers]
        start = time.monotonic()
        harvested = _harvest.harvest(engine, {"web": [s for s in states if s]}, work / f"h-replicas-{count}")
        took = time.monotonic() - start
        assert harvested.files["web"] == count * FILES_PER_REPLICA, harvested.files
        assert all(row["files"] == FILES_PER_REPLICA for row in harvested.containers), harvested.containers
        return took
    finally:
        for container in containers:
            container.remove(force=True)
        volume.remove(force=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, nargs="+", default=[1, 5, 10, 20, 30])
    parser.add_argument("--files", type=int, nargs="+", default=[1000, 5000, 10000, 20000])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 5, 10, 20, 30])
    parser.add_argument("--trials", type=int, default=2)
    args = parser.parse_args()
    settings = load_settings(config=REPO / "pyproject.toml")
    engine = Engine.connect()
    ready_rows: list[tuple[int, float, float, float]] = []
    combine_rows: list[tuple[int, float, float]] = []
    harvest_rows: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory(prefix="stacktest-scaling-") as tmp:
        work = Path(tmp)
        build_image(engine, settings.base_image, work)
        try:
            readiness_trial(services_project(work / "warm-up", 1))  # a process's first start pays imports
            for n in args.services:
                root = services_project(work / f"services-{n}", n)
                trials = [readiness_trial(root) for _ in range(args.trials)]
                up, wait, after = (median([t[i] for t in trials]) for i in range(3))
                ready_rows.append((n, up, wait, after))
                print(
                    f"{n} services: compose up -d {up:.2f} s, stacktest's wait {wait:.2f} s, "
                    f"ready {after * 1000:.0f} ms after the last one listened",
                    flush=True,
                )
            for n in args.replicas:
                took = median([harvest_trial(engine, n, work / f"r{n}-{i}") for i in range(args.trials)])
                harvest_rows.append((n, took))
                print(f"{n} replicas ({n * FILES_PER_REPLICA} files): harvest {took:.2f} s", flush=True)
        finally:
            engine.client.images.remove(IMAGE, force=True)
        for count in args.files:
            ours, bare = combine_trial(engine, settings.base_image, count, work)
            combine_rows.append((count, ours, bare))
            print(
                f"{count} files: harvest + combine {ours:.2f} s, bare coverage combine {bare:.2f} s "
                f"({ours / bare:.2f}x)",
                flush=True,
            )
    worst = max(ours / bare for _, ours, bare in combine_rows)
    command = (
        "python benchmarks/scaling.py"
        f" --services {' '.join(map(str, args.services))} --files {' '.join(map(str, args.files))}"
        f" --replicas {' '.join(map(str, args.replicas))} --trials {args.trials}"
    )
    figures = write_doc(ready_rows, combine_rows, harvest_rows, command, engine.version().get("Version", "?"))
    record("scaling", worst, "harvest + combine <= 1.2x a bare coverage combine, at every size", worst <= 1.2,
           figures, command)  # fmt: skip


def reading(at: dict[str, float]) -> list[str]:
    """What the extrapolations say, in words, from the numbers (not written before measuring)."""
    start_up = at["compose_up_200_services_s"] + at["stacktest_wait_200_services_s"]
    files = at["harvest_combine_100k_files_s"]
    bigger = "the data files" if files > start_up else "starting the services"
    ours_vs_bare = files / at["bare_combine_100k_files_s"]
    per_service_ms = (at["stacktest_delay_200_services_s"] - at["stacktest_delay_1_service_s"]) / 199 * 1000
    delay = (
        "does not grow with the number of services"
        if abs(per_service_ms) < 0.25
        else f"grows by {per_service_ms:.2f} ms per service"
    )
    return [
        f"Reading: at those sizes {bigger} cost most ({files:.0f} s for 100,000 files against"
        f" {start_up:.0f} s to start 200 services). Combining is CPU-bound Python in coverage.py;"
        f" stacktest splits it over the cores, which is why its harvest + combine extrapolates to"
        f" {ours_vs_bare:.2f}x a bare `coverage combine` of the same files. Start-up is compose's"
        " (creating and starting containers) and the services' own; stacktest's part of it, the delay"
        f" after the last service listened, {delay}. Each covered container adds one API inspection to"
        " the harvest; the files they wrote are what costs.",
    ]


def write_doc(
    ready: list[tuple[int, float, float, float]],
    comb: list[tuple[int, float, float]],
    harv: list[tuple[int, float]],
    command: str,
    engine_version: str,
) -> dict[str, float]:
    up_a, up_b = fit([r[0] for r in ready], [r[1] for r in ready])
    wait_a, wait_b = fit([r[0] for r in ready], [r[2] for r in ready])
    after_a, after_b = fit([r[0] for r in ready], [r[3] for r in ready])
    ours_a, ours_b = fit([c[0] for c in comb], [c[1] for c in comb])
    bare_a, bare_b = fit([c[0] for c in comb], [c[2] for c in comb])
    harv_a, harv_b = fit([h[0] for h in harv], [h[1] for h in harv])
    at = {
        "compose_up_200_services_s": up_a + up_b * 200,
        "stacktest_wait_200_services_s": wait_a + wait_b * 200,
        "stacktest_delay_200_services_s": after_a + after_b * 200,
        "stacktest_delay_1_service_s": after_a + after_b,
        "harvest_combine_100k_files_s": ours_a + ours_b * 100_000,
        "bare_combine_100k_files_s": bare_a + bare_b * 100_000,
        "harvest_200_replicas_s": harv_a + harv_b * 200,
    }
    per_unit = {
        "compose up -d, per service": up_b,
        "stacktest's wait, per service": wait_b,
        "stacktest's delay after the last service listened, per service": after_b,
        "harvest + combine, per 1,000 files": ours_b * 1000,
        "bare coverage combine, per 1,000 files": bare_b * 1000,
        "harvest, per covered container": harv_b,
    }
    ours = {  # stacktest's own parts, each per unit of what makes it grow
        "harvest + combine": (ours_b * 1000, "per 1,000 data files"),
        "harvest": (harv_b, "per covered container"),
        "the readiness delay": (after_b, "per service"),
    }
    fastest = max(ours, key=lambda k: ours[k][0])
    others = ", ".join(f"{v * 1000:+.1f} ms {unit} for {k}" for k, (v, unit) in ours.items() if k != fastest)
    lines = [
        "# How stacktest's costs grow",
        "",
        f"Measured by `{command}` (`just bench` runs it) on {machine()},",
        f"Docker Engine {engine_version}, each curve in one run; medians of the trials. The lines are",
        "least-squares fits of the points; the last section extrapolates them.",
        "",
        "## Readiness against the number of services",
        "",
        "Generated stacks of N small HTTP services (one image, an HTTP probe each, no healthcheck).",
        "`compose up -d` is compose creating and starting the containers; the wait is stacktest's, from",
        "then until every service answered its probe; the last column is how long after the last service",
        "started listening stacktest said the stack was ready.",
        "",
        "| services | compose up -d (s) | stacktest's wait (s) | ready after the last listened (ms) |",
        "|---|---|---|---|",
        *(f"| {n} | {up:.2f} | {wait:.2f} | {after * 1000:.0f} |" for n, up, wait, after in ready),
        "",
        f"Fit: compose up -d = {up_a:.2f} s + {up_b * 1000:.0f} ms per service; stacktest's wait ="
        f" {wait_a:.2f} s + {wait_b * 1000:.0f} ms per service (the services starting on two cores at once);"
        f" stacktest's delay after the last one listened = {after_a * 1000:.0f} ms"
        f" {after_b * 1000:+.2f} ms per service.",
        "",
        "## Harvest plus combine against the number of data files",
        "",
        "Data files in a real volume, copied out through the Engine API and combined with paths mapped",
        "(benchmarks/combine.py's trial), next to a bare `coverage combine` of the same files already on",
        "disk, with the same mapping.",
        "",
        "| data files | harvest + combine (s) | bare coverage combine (s) | ratio |",
        "|---|---|---|---|",
        *(f"| {n:,} | {ours:.2f} | {bare:.2f} | {ours / bare:.2f}x |" for n, ours, bare in comb),
        "",
        f"Fit: harvest + combine = {ours_a:.2f} s + {ours_b * 1000:.2f} s per 1,000 files; bare combine ="
        f" {bare_a:.2f} s + {bare_b * 1000:.2f} s per 1,000 files.",
        "",
        "## Harvest against the number of covered containers",
        "",
        "One covered service with N stopped replicas sharing its data volume,",
        f"{FILES_PER_REPLICA} data files each: one copy of the volume through the API, and one inspection",
        "per replica (which container wrote which file, and when it ran).",
        "",
        "| replicas | data files | harvest (s) |",
        "|---|---|---|",
        *(f"| {n} | {n * FILES_PER_REPLICA} | {took:.2f} |" for n, took in harv),
        "",
        f"Fit: harvest = {harv_a:.2f} s + {harv_b * 1000:.0f} ms per covered container.",
        "",
        "## What grows fastest, and what a large project would take",
        "",
        "Per unit, from the fits:",
        "",
        *(f"- {name}: {value * 1000:.1f} ms" for name, value in per_unit.items()),
        "",
        f"Of stacktest's own costs, {fastest} grows fastest: {ours[fastest][0]:.1f} s {ours[fastest][1]},"
        f" against {others}. Extrapolated (straight lines, so only as good as the",
        "assumption that nothing changes regime past the measured range: memory, the engine's own",
        "limits, two cores shared by 200 services):",
        "",
        f"- a 200-service stack: compose up -d {at['compose_up_200_services_s']:.0f} s, then stacktest's wait"
        f" {at['stacktest_wait_200_services_s']:.1f} s (the services' own start-up on this machine), of"
        f" which stacktest's delay after the last one listened is"
        f" {at['stacktest_delay_200_services_s'] * 1000:.0f} ms;",
        f"- a 100,000-file run: harvest + combine {at['harvest_combine_100k_files_s']:.0f} s, where a bare"
        f" coverage combine takes {at['bare_combine_100k_files_s']:.0f} s;",
        f"- a covered service with 200 replicas: harvest {at['harvest_200_replicas_s']:.1f} s.",
        "",
        *reading(at),
        "",
    ]
    DOC.write_text("\n".join(lines))
    return {k: round(v, 2) for k, v in at.items()} | {
        "worst_combine_ratio_at_files": max(comb, key=lambda c: c[1] / c[2])[0]
    }


if __name__ == "__main__":
    main()
