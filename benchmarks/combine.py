"""Harvest plus combine of 1,000 and 2,000 coverage data files: put into a real data volume, copied out
through the Engine API from a stopped container, sorted by hostname, combined with path mapping.

    python benchmarks/combine.py [--sizes 1000 2000]
"""

from __future__ import annotations

import argparse
import io
import random
import tarfile
import tempfile
import time
from pathlib import Path

import coverage
from _common import REPO, record

from stacktest import _coverage
from stacktest._engine import Engine
from stacktest.settings import load_settings

SOURCES = REPO / "compose" / "services" / "auth" / "src"


def make_files(folder: Path, hostname: str, count: int, rng: random.Random) -> None:
    files = sorted(SOURCES.rglob("*.py"))
    sizes = {f: len(f.read_text().splitlines()) for f in files}
    for i in range(count):
        data = coverage.CoverageData(
            basename=str(folder / f".coverage.{hostname}.pid{i}.X{rng.randrange(10**8)}x")
        )
        data.add_lines(
            {
                f"/app/{f.relative_to(SOURCES)}": sorted(rng.sample(range(1, sizes[f] + 1), sizes[f] // 2))
                for f in files
            }
        )
        data.write()


def trial(engine: Engine, image: str, count: int, work: Path, settings) -> float:  # type: ignore[no-untyped-def]
    rng = random.Random(count)
    volume = engine.client.volumes.create()
    container = engine.client.containers.create(
        image, ["true"], volumes={volume.name: {"bind": _coverage.DATA_ROOT}}
    )
    try:
        container.reload()
        hostname = container.attrs["Config"]["Hostname"]
        files = work / f"gen-{count}"
        files.mkdir()
        make_files(files, hostname, count, rng)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for f in files.iterdir():
                tar.add(f, arcname=f"{Path(_coverage.DATA_DIR).name}/{f.name}")
        container.put_archive(_coverage.DATA_ROOT, buf.getvalue())
        state = engine.inspect(container.id)
        assert state is not None
        start = time.monotonic()
        harvested = _coverage.harvest(engine, {"auth": [state]}, work / f"h-{count}")
        assert harvested.files["auth"] == count, harvested.files
        _coverage.combine(
            work / f"h-{count}", ["auth"], {"auth": {"/app": str(SOURCES)}}, REPO, work / f"c-{count}"
        )
        return time.monotonic() - start
    finally:
        container.remove(force=True)
        volume.remove(force=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs=2, default=[1000, 2000])
    args = parser.parse_args()
    settings = load_settings(config=REPO / "pyproject.toml")
    engine = Engine.connect()
    small, large = args.sizes
    with tempfile.TemporaryDirectory() as tmp:
        t_small = trial(engine, settings.base_image, small, Path(tmp), settings)
        t_large = trial(engine, settings.base_image, large, Path(tmp), settings)
    print(f"harvest + combine: {small} files {t_small:.2f} s, {large} files {t_large:.2f} s")
    ratio = t_large / t_small
    record(
        "combine",
        ratio,
        f"< 10 s for {small}, and linear (ratio ~{large / small:.0f})",
        t_small < 10 and ratio < 1.25 * large / small,
        {f"seconds_{small}": round(t_small, 2), f"seconds_{large}": round(t_large, 2)},
        f"python benchmarks/combine.py --sizes {small} {large}",
    )


if __name__ == "__main__":
    main()
