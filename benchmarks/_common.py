"""What every benchmark shares: the bundled project, a median, and one results file.

Each benchmark measures stacktest and its baseline side by side in one run and prints ratios, never an
absolute time alone; its last line is ``NAME: ratio=X (goal Y)``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results.json"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> str:
    python = f"{platform.python_implementation()} {platform.python_version()}"
    return f"{platform.machine()}, {os.cpu_count()} cores, {python}"


def record(name: str, ratio: float, goal: str, met: bool, figures: dict[str, Any], command: str) -> None:
    """Add this benchmark's figures to the results file and print its closing line."""
    data = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    data[name] = {
        "ratio": round(ratio, 3),
        "goal": goal,
        "met": met,
        "figures": figures,
        "command": command,
        "machine": machine(),
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(f"{name}: ratio={ratio:.2f} (goal {goal})", flush=True)


def bundled_copy(dest: Path, *, git: bool = False) -> Path:
    """The bundled project (settings, stack, live suite) in ``dest``; with ``git``, a repository of its
    own with everything committed (what `--affected` compares against)."""
    dest.mkdir(parents=True)
    shutil.copy2(REPO / "pyproject.toml", dest / "pyproject.toml")
    shutil.copytree(REPO / "compose", dest / "compose", ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "tests").mkdir()
    shutil.copy2(REPO / "tests" / "__init__.py", dest / "tests" / "__init__.py")
    shutil.copytree(
        REPO / "tests" / "stack", dest / "tests" / "stack", ignore=shutil.ignore_patterns("__pycache__")
    )
    if git:
        (dest / ".gitignore").write_text("wheels/\n.stacktest/\n__pycache__/\n")
        who = ["git", "-c", "user.email=bench@stacktest", "-c", "user.name=bench"]
        for argv in (["init", "-q"], ["add", "."], ["commit", "-qm", "the project"]):
            subprocess.run([*who, *argv], cwd=dest, check=True, capture_output=True)
    return dest
