"""Do the fast tier's tests pin the decisions? Mutation testing of the decision logic, as a benchmark (not
in CI): mutmut (3.x, installed beside stacktest, not a dependency of it) mutates the modules that decide
(settings coercion and bounds, the readiness rules, the runner's exit codes and phases, shards, the worker
count, cleanup's rules, the exit codes, init's proposal) and runs the fast tier (tests/unit and
tests/plugin, no engine) against each mutant. It prints the share of mutants killed and every survivor.

    pip install mutmut        # in a virtualenv with stacktest's dev dependencies
    python benchmarks/mutation.py [--max-children 2] [--module src/stacktest/stack/rules.py ...]

The repository is copied to a temporary folder first: mutmut writes its mutants and state beside the code.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from _common import REPO, record

MODULES = [
    "src/stacktest/settings/fields.py",
    "src/stacktest/settings/model.py",
    "src/stacktest/stack/rules.py",
    "src/stacktest/testrun/runner.py",
    "src/stacktest/testrun/shards.py",
    "src/stacktest/testrun/workers.py",
    "src/stacktest/cleanup/rules.py",
    "src/stacktest/errors.py",
    "src/stacktest/adopt/propose.py",
]
FAST_TIER = ["tests/unit", "tests/plugin"]
# tests that read the package's source itself (sizes, layers, names): mutmut's copy is instrumented
SOURCE_READERS = ["--ignore=tests/unit/test_layout.py", "--ignore=tests/unit/test_public_names.py"]
GOAL = 0.8


def config(modules: list[str]) -> str:
    def toml_list(items: list[str]) -> str:
        return "[" + ", ".join(f'"{i}"' for i in items) + "]"

    return (
        "\n[tool.mutmut]\n"
        'source_paths = ["src"]\n'
        f"only_mutate = {toml_list(modules)}\n"
        f"pytest_add_cli_args_test_selection = {toml_list(FAST_TIER)}\n"
        f"pytest_add_cli_args = {toml_list(['-p', 'no:cacheprovider', '-q', *SOURCE_READERS])}\n"
        'also_copy = ["tests", "coverage-spy", "compose", "README.md", "docs"]\n'
    )


def by_function(mutants: list[str]) -> dict[str, int]:
    """Survivors counted per mutated function (``stacktest.x.y.x_f__mutmut_12`` -> ``stacktest.x.y.f``)."""
    names = [
        re.sub(r"__mutmut_\d+$", "", m).replace(".x_", ".").replace("xǁ", "").replace("ǁ", ".")
        for m in mutants
    ]
    return dict(collections.Counter(names).most_common())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--module", action="append", help="a module to mutate (default: the decision modules)"
    )
    args = parser.parse_args()
    modules = args.module or MODULES
    mutmut = shutil.which("mutmut")
    if mutmut is None:
        raise SystemExit("mutmut is not installed: pip install mutmut (a benchmark tool, not a dependency)")
    command = "python benchmarks/mutation.py" + "".join(f" --module {m}" for m in args.module or [])
    with tempfile.TemporaryDirectory(prefix="stacktest-mutation-") as tmp:
        copy = Path(tmp) / "repo"
        shutil.copytree(
            REPO,
            copy,
            ignore=shutil.ignore_patterns(
                ".git", ".stacktest", "mutants", "__pycache__", "wheels", "generated"
            ),
        )
        with (copy / "pyproject.toml").open("a") as f:
            f.write(config(modules))
        # the base interpreter's scripts (just, from rust-just) before any version manager's shims, which
        # would put their own folders first on PATH for the recipes a test runs
        base_scripts = sysconfig.get_path("scripts", vars={"base": sys.base_prefix})
        env = os.environ | {
            "DOCKER_HOST": "unix:///nonexistent",
            "CI": "",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PATH": f"{base_scripts}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        start = time.monotonic()
        run = subprocess.run(
            [mutmut, "run", "--max-children", str(args.max_children)],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.monotonic() - start
        if run.returncode != 0:
            raise SystemExit(
                f"mutmut run failed ({run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
            )
        listed = subprocess.run(
            [mutmut, "results", "--all", "true"],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    statuses = dict(re.findall(r"^\s+(\S+): (\w[\w ]*)$", listed, re.M))
    counted = {s: sum(1 for v in statuses.values() if v == s) for s in sorted(set(statuses.values()))}
    tested = sum(n for s, n in counted.items() if s in ("killed", "survived", "timeout"))
    killed = counted.get("killed", 0) + counted.get("timeout", 0)
    ratio = killed / tested if tested else 0.0
    survivors = sorted(k for k, v in statuses.items() if v == "survived")
    print(f"{len(statuses)} mutants in {len(modules)} modules ({seconds:.0f} s): {counted}")
    print(f"killed by the fast tier: {killed} of {tested} ({ratio:.0%})")
    for name in survivors:
        print(f"  survived: {name}")
    record(
        "mutation",
        ratio,
        f">= {GOAL:.0%} of the mutants of the decision modules killed by the fast tier",
        ratio >= GOAL,
        {
            "mutants": len(statuses),
            "by_status": counted,
            "survivors": by_function(survivors),
            "seconds": round(seconds),
        },
        command,
    )


if __name__ == "__main__":
    main()
