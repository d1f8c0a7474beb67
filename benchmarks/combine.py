"""Harvest plus combine of 1,000 and 2,000 coverage data files: put into a real data volume, copied out
through the Engine API from a stopped container, combined with path mapping; next to it, a bare
`coverage combine` of the same files with the same mapping (what a user would run on files already on
disk), in the same run.

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

from stacktest.adapters.engine import Engine
from stacktest.coverage import harvest as _harvest
from stacktest.coverage import report as _report
from stacktest.coverage import spy as _spy
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


def bare_combine(files: Path, dest: Path) -> float:
    """`coverage combine --keep` with [paths] mapping /app to the sources: the baseline."""
    start = time.monotonic()
    cov = coverage.Coverage(data_file=str(dest), config_file=False)
    cov.set_option("paths", {"auth": [str(SOURCES), "/app/"]})
    cov.combine([str(p) for p in files.iterdir()], keep=True)
    cov.save()
    return time.monotonic() - start


def trial(engine: Engine, image: str, count: int, work: Path) -> tuple[float, float]:
    rng = random.Random(count)
    volume = engine.client.volumes.create()
    container = engine.client.containers.create(
        image, ["true"], volumes={volume.name: {"bind": _spy.DATA_ROOT}}
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
                tar.add(f, arcname=f"{Path(_spy.DATA_DIR).name}/{f.name}")
        container.put_archive(_spy.DATA_ROOT, buf.getvalue())
        state = engine.inspect(container.id)
        assert state is not None
        start = time.monotonic()
        harvested = _harvest.harvest(engine, {"auth": [state]}, work / f"h-{count}")
        assert harvested.files["auth"] == count, harvested.files
        _report.combine(
            work / f"h-{count}", ["auth"], {"auth": {"/app": str(SOURCES)}}, REPO, work / f"c-{count}"
        )
        ours = time.monotonic() - start
        bare = bare_combine(files, work / f"bare-{count}.coverage")
        return ours, bare
    finally:
        container.remove(force=True)
        volume.remove(force=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000])
    args = parser.parse_args()
    settings = load_settings(config=REPO / "pyproject.toml")
    engine = Engine.connect()
    figures: dict[str, float] = {}
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        for count in args.sizes:
            ours, bare = trial(engine, settings.base_image, count, Path(tmp))
            ratios.append(ours / bare)
            figures[f"stacktest_s_{count}"] = round(ours, 2)
            figures[f"bare_combine_s_{count}"] = round(bare, 2)
            print(
                f"{count} files: harvest + combine {ours:.2f} s, bare coverage combine {bare:.2f} s "
                f"({ours / bare:.2f}x)",
                flush=True,
            )
    ratio = max(ratios)
    record(
        "combine",
        ratio,
        "harvest + combine <= 1.2x a bare coverage combine",
        ratio <= 1.2,
        figures,
        f"python benchmarks/combine.py --sizes {' '.join(map(str, args.sizes))}",
    )


if __name__ == "__main__":
    main()
