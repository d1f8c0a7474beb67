"""Stop: `docker stop` of a covered PID-1 Python service with no signal handling of its own, with
stacktest's spy vs coverage's stock `[run] sigterm = true` (coverage run). Data kept in both?

    python benchmarks/stop.py [--trials 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import REPO, median, record

from stacktest import _coverage
from stacktest._engine import Engine
from stacktest.settings import load_settings

APP = REPO / "tests" / "integration" / "stacks" / "cov" / "apps" / "pid1"


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    settings = load_settings(config=REPO / "pyproject.toml")
    engine = Engine.connect()
    with tempfile.TemporaryDirectory() as run_dir:
        spy = _coverage.prepare_spy(settings, Path(run_dir))
        ours, stock, kept_ours, kept_stock = [], [], [], []
        for i in range(args.trials):
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
            "trials": args.trials,
        },
        f"python benchmarks/stop.py --trials {args.trials}",
    )


if __name__ == "__main__":
    main()
