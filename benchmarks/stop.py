"""Stop, in two parts, each measured side by side in one run:

1. `docker stop` of a covered PID-1 Python service with no signal handling of its own, with stacktest's
   spy vs coverage's stock `[run] sigterm = true` (coverage run). Data kept in both?
2. The server shapes of tests/corpus/servers (gunicorn, uvicorn, hypercorn, Django, Flask, Celery,
   multiprocessing): each service stopped on its own, once in a stack without coverage (`compose stop`)
   and once covered, the way a coverage run stops it (every measured process asked to save, then
   `compose stop`). Per service: seconds from the request to the container's exit, and the difference.
   Goal: the slowest covered service within 0.5 s of its own uncovered shutdown.

    python benchmarks/stop.py [--trials 3] [--part pid1|servers|both]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from _common import REPO, median, record

from stacktest.adapters.engine import Engine
from stacktest.commands import lifecycle
from stacktest.coverage import harvest as _harvest
from stacktest.coverage import spy as _spy
from stacktest.settings import Settings, load_settings
from stacktest.stack.lifecycle import Stack

APP = REPO / "tests" / "integration" / "stacks" / "cov" / "apps" / "pid1"
SERVERS = REPO / "tests" / "corpus" / "servers"


def trial(engine: Engine, image: str, spy: Path, stock: bool) -> tuple[float, bool]:
    with tempfile.TemporaryDirectory() as data:
        env = {"COVERAGE_FILE": "/coverage-data/.coverage"}
        if stock:
            (Path(data) / "rc").write_text("[run]\nparallel = true\nsigterm = true\nsource = /app\n")
            command = ["python3", "-m", "coverage", "run", "--rcfile=/coverage-data/rc", "/app/server.py"]
            env["PYTHONPATH"] = "/coverage-spy/_vendor/cp311"  # the same coverage, without the spy
        else:
            command = ["python3", "/app/server.py"]
            env |= {
                "PYTHONPATH": "/coverage-spy",
                "STACKTEST_COVERAGE_SOURCE": "/app",
                "STACKTEST_COVERAGE_RCFILE": "/coverage-spy/.coveragerc",
            }
        c = engine.client.containers.run(
            image,
            command,
            detach=True,
            environment=env,
            volumes={
                str(spy): {"bind": "/coverage-spy", "mode": "ro"},
                data: {"bind": "/coverage-data"},
                str(APP): {"bind": "/app", "mode": "ro"},
            },
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and c.logs() == b"" and c.status != "running":
                time.sleep(0.05)
                c.reload()
            time.sleep(1.0)  # the interpreter and coverage have started
            start = time.monotonic()
            c.stop(timeout=10)
            took = time.monotonic() - start
        finally:
            c.remove(force=True)
        return took, any(Path(data).glob(".coverage.*"))


def _stop_one(settings: Settings, stack: Stack, service: str, covered: bool, work: Path) -> float:
    """Stop one service as stacktest would (covered: its measured processes asked to save first);
    seconds from the request to its container's exit, as the engine recorded it."""
    states = stack.engine.replicas(stack.project).get(service, [])
    requested = time.time()
    if covered:
        _harvest.ask_to_save(stack.engine, {service: states}, work)
    stack.compose.run(stack.compose.stop_argv([service]), timeout=120, what=f"compose stop {service}")
    after = [stack.engine.inspect(st.container_id) for st in states]
    return max((a.finished_at or requested) - requested for a in after if a is not None)


def _servers_trial(root: Path, covered: bool) -> dict[str, float]:
    settings = load_settings(config=root / "pyproject.toml", environ={})
    stack = lifecycle.up(settings, coverage=covered)
    try:
        return {
            service: _stop_one(settings, stack, service, covered, root / ".stacktest" / "bench")
            for service in settings.coverage_services
        }
    finally:
        lifecycle.down(settings, project=stack.project, every=False, volumes=True)


def servers(trials: int) -> None:
    """Part 2: each server shape stopped alone, uncovered and covered, in one run."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "servers"
        shutil.copytree(SERVERS, root, ignore=shutil.ignore_patterns(".stacktest"))
        plain: dict[str, list[float]] = {}
        covered: dict[str, list[float]] = {}
        for i in range(trials):
            for service, took in _servers_trial(root, covered=False).items():
                plain.setdefault(service, []).append(took)
            for service, took in _servers_trial(root, covered=True).items():
                covered.setdefault(service, []).append(took)
            print(f"servers trial {i + 1} done")
    rows = {s: (median(plain[s]), median(covered[s])) for s in sorted(covered)}
    print(f"{'service':<20} {'uncovered s':>12} {'covered s':>10} {'difference s':>13}")
    for service, (p, c) in rows.items():
        print(f"{service:<20} {p:>12.2f} {c:>10.2f} {c - p:>+13.2f}")
    slowest = max(rows, key=lambda s: rows[s][1])
    worst = max(rows, key=lambda s: rows[s][1] - rows[s][0])
    p, c = rows[slowest]
    record(
        "stop_servers",
        c / p if p else float("nan"),
        "the slowest covered service within 0.5 s of its own uncovered stop",
        c - p <= 0.5,
        {
            "slowest_covered": slowest,
            "slowest_covered_s": round(c, 3),
            "its_uncovered_s": round(p, 3),
            "largest_difference": worst,
            "largest_difference_s": round(rows[worst][1] - rows[worst][0], 3),
            "per_service": {
                s: {"uncovered_s": round(a, 3), "covered_s": round(b, 3)} for s, (a, b) in rows.items()
            },
            "trials": trials,
        },
        f"python benchmarks/stop.py --part servers --trials {trials}",
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--part", choices=("pid1", "servers", "both"), default="both")
    args = parser.parse_args()
    if args.part in ("servers", "both"):
        servers(args.trials)
    if args.part in ("pid1", "both"):
        pid1(args.trials)


def pid1(trials: int) -> None:
    """Part 1: a PID-1 service with no signal handling, the spy against coverage's sigterm = true."""
    settings = load_settings(config=REPO / "pyproject.toml")
    engine = Engine.connect()
    with tempfile.TemporaryDirectory() as run_dir:
        spy = _spy.prepare_spy(settings, Path(run_dir))
        ours, stock, kept_ours, kept_stock = [], [], [], []
        for i in range(trials):
            t, k = trial(engine, settings.base_image, spy, stock=False)
            ours.append(t)
            kept_ours.append(k)
            t, k = trial(engine, settings.base_image, spy, stock=True)
            stock.append(t)
            kept_stock.append(k)
            print(
                f"trial {i + 1}: spy {ours[-1]:.2f} s (data {kept_ours[-1]}), "
                f"stock sigterm=true {stock[-1]:.2f} s (data {kept_stock[-1]})"
            )
    m_ours, m_stock = median(ours), median(stock)
    record(
        "stop",
        m_stock / m_ours,
        "<= 0.5 s with the data kept",
        m_ours <= 0.5 and all(kept_ours),
        {
            "spy_s": round(m_ours, 3),
            "stock_sigterm_s": round(m_stock, 3),
            "spy_data_kept": all(kept_ours),
            "stock_data_kept": all(kept_stock),
            "trials": trials,
        },
        f"python benchmarks/stop.py --part pid1 --trials {trials}",
    )


if __name__ == "__main__":
    main()
