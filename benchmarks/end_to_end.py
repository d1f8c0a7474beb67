"""End to end: `stacktest coverage run` (what `just test-sidecar-coverage` runs) vs the bare sequence
`docker compose up -d --build --wait; pytest; docker compose down -v` on the same stack and tests,
interleaved. stacktest adds coverage, harvest, combine and reports; the bare sequence adds nothing.

    python benchmarks/end_to_end.py [--trials 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from _common import REPO, median, record

from stacktest.adapters import compose as _compose
from stacktest.adapters import images as _images
from stacktest.adapters.endpoint import engine_host
from stacktest.adapters.engine import Engine
from stacktest.settings import load_settings


def stacktest_run() -> float:
    start = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "stacktest", "coverage", "run", "-q", "-p", "no:cacheprovider"],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=900,
    )
    return time.monotonic() - start


def bare_run(settings) -> float:  # type: ignore[no-untyped-def]
    project = _compose.new_project_name("bare", settings.root)
    env = dict(os.environ) | _images.image_env(settings) | {"DOCKER_BUILDKIT": "0"}
    compose = _compose.detect().bind(project, settings.compose_paths, {}, 600)
    start = time.monotonic()
    try:
        subprocess.run(
            compose.up_argv(build=True, wait=True), env=env, check=True, capture_output=True, timeout=600
        )
        engine = Engine.connect()
        urls = {}
        for name, st in engine.states(project).items():
            port = next(iter(sorted(st.ports.items())))[1]
            urls[name] = f"http://{engine_host()}:{port}"
        run_env = env | {"STACKTEST_PROJECT": project, "STACKTEST_URLS": json.dumps(urls)}
        subprocess.run(
            [sys.executable, "-m", "pytest", "tests/stack", "-q", "-p", "no:cacheprovider"],
            cwd=REPO,
            env=run_env,
            check=True,
            capture_output=True,
            timeout=900,
        )
    finally:
        subprocess.run(compose.down_argv(volumes=True, timeout=10), env=env, check=True, capture_output=True)
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    settings = load_settings(config=REPO / "pyproject.toml")
    stacktest_run()  # warm-up, not counted: images built, wheels cached, for both sequences alike
    bare_run(settings)
    ours, bare = [], []
    for i in range(args.trials):
        ours.append(stacktest_run())
        bare.append(bare_run(settings))
        print(f"trial {i + 1}: stacktest coverage run {ours[-1]:.1f} s, bare compose+pytest {bare[-1]:.1f} s")
    ratio = median(ours) / median(bare)
    record(
        "end-to-end",
        ratio,
        "<= 1.15x, while adding coverage",
        ratio <= 1.15,
        {
            "stacktest_coverage_s": round(median(ours), 1),
            "bare_s": round(median(bare), 1),
            "trials": args.trials,
        },
        f"python benchmarks/end_to_end.py --trials {args.trials}",
    )


if __name__ == "__main__":
    main()
