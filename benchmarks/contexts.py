"""Per-test contexts under parallelism, and what they cost.

Three coverage runs of the bundled stack's live suite, in one copy of the project:

- reference: ``stacktest coverage run --contexts`` in one pytest process, the map a serial run records;
- parallel: ``stacktest coverage run --contexts --mode n --workers 4``;
- baseline: ``stacktest coverage run --mode n --workers 4``, no contexts.

Prints the precision and recall of the parallel run's (test, service file, line) triples against the
reference's, their agreement (shared / either), every triple the two disagree on (by file and line), and
the cost: the test phase's throughput (tests per second) with contexts against without, and the size of
the combined data. Goal: agreement >= 99 %.

    python benchmarks/contexts.py
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from _common import bundled_copy, record

from stacktest.coverage import testmap

SERVICES = "compose/services/"


def run(project: Path, *args: str) -> tuple[float, int, Path]:
    """(test phase seconds, tests run, report folder) of one coverage run."""
    done = subprocess.run(
        [sys.executable, "-m", "stacktest", "coverage", "run", *args, "-q", "-p", "no:randomly"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(
            f"coverage run {' '.join(args)} exited {done.returncode}:\n"
            + done.stdout[-3000:]
            + done.stderr[-3000:]
        )
    total = re.search(r"total: (\d+) passed, (\d+) failed.* in ([\d.]+)s", done.stdout)
    folder = re.search(r"html: (\S+)/html", done.stdout)
    assert total and folder, done.stdout[-2000:]
    return float(total[3]), int(total[1]) + int(total[2]), Path(folder[1])


def triples(project: Path) -> set[tuple[str, str, int]]:
    recorded = testmap.from_json(json.loads((project / ".stacktest/last/testmap.json").read_text()))
    assert recorded is not None
    return {
        (test, name, line)
        for test, files in recorded.tests.items()
        for name, lines in files.items()
        if name.startswith(SERVICES)
        for line in lines
    }


def data_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob(".coverage.*") if p.name != ".coverage.tests")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="stacktest-contexts-") as top:
        project = bundled_copy(Path(top) / "proj")
        plain_s, plain_n, plain_dir = run(project, "--mode", "n", "--workers", "4")
        serial_s, serial_n, _ = run(project, "--contexts")
        reference = triples(project)
        par_s, par_n, par_dir = run(project, "--contexts", "--mode", "n", "--workers", "4")
        parallel = triples(project)
        sizes = (data_bytes(plain_dir), data_bytes(par_dir))
    shared = reference & parallel
    precision = len(shared) / len(parallel) if parallel else 0.0
    recall = len(shared) / len(reference) if reference else 0.0
    agreement = len(shared) / len(reference | parallel) if reference | parallel else 0.0
    print(
        f"(test, service line) pairs: reference {len(reference)}, parallel {len(parallel)}, "
        f"shared {len(shared)}"
    )
    print(f"precision {precision:.4f}  recall {recall:.4f}  agreement {agreement:.4f}")
    differ = Counter((name.removeprefix(SERVICES), line) for _, name, line in reference ^ parallel)
    for (name, line), count in sorted(differ.items()):
        print(f"  differ: {name}:{line} in {count} test(s)")
    with_ctx, without = par_n / par_s, plain_n / plain_s
    print(
        f"throughput on 4 workers: {with_ctx:.1f} tests/s with contexts, {without:.1f} without "
        f"({with_ctx / without:.2f}x); serial with contexts {serial_n / serial_s:.1f} tests/s"
    )
    print(
        f"combined service data: {sizes[1] / 1024:.0f} KiB with contexts, {sizes[0] / 1024:.0f} KiB without "
        f"({sizes[1] / sizes[0]:.1f}x)"
    )
    record(
        "contexts",
        agreement,
        ">= 0.99 of (test, line) pairs equal the serial run's",
        agreement >= 0.99,
        {
            "pairs_reference": len(reference),
            "pairs_parallel": len(parallel),
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "tests": par_n,
            "throughput_ratio": round(with_ctx / without, 3),
            "data_ratio": round(sizes[1] / sizes[0], 2),
            "data_kib_with": round(sizes[1] / 1024),
            "data_kib_without": round(sizes[0] / 1024),
        },
        "python benchmarks/contexts.py",
    )


if __name__ == "__main__":
    main()
