"""Fixtures of the end-to-end tests that run stacktest as a user would: from a wheel built from this
checkout, installed into a virtualenv of its own (tests/e2e/test_corpus.py, tests/e2e/test_servers.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, session_folder


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory, base_image: str, pytestconfig: pytest.Config) -> Path:
    """The ``stacktest`` command of a virtualenv that has stacktest from a wheel built from this checkout.
    Its dependencies come from this interpreter's site-packages (the machine may have no index)."""
    top = tmp_path_factory.mktemp("installed")
    dist = _wheel(session_folder(tmp_path_factory, pytestconfig))
    venv = top / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv], check=True, timeout=120)
    python = venv / "bin" / "python"
    wheel = next(dist.glob("stacktest-*.whl"))
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check", wheel],
        check=True,
        timeout=300,
    )
    where = subprocess.run(
        [python, "-c", "import stacktest, stacktest_spy; print(stacktest.__file__, stacktest_spy.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=top,
    ).stdout
    assert where.count(str(venv)) == 2, f"stacktest does not come from the wheel: {where}"
    return venv / "bin" / "stacktest"  # the shapes build FROM base_image


def _wheel(shared: Path) -> Path:
    """The folder with one wheel of this checkout, built once for the session and all its xdist workers
    (the build writes into the checkout's build/ folder: two at once break each other)."""
    from stacktest.locks import exclusive

    dist = shared / "stacktest-dist"
    with exclusive(shared / "stacktest-dist.lock"):
        if not any(dist.glob("stacktest-*.whl")):
            build = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "wheel",
                    "--no-deps",
                    "--no-build-isolation",
                    "-q",
                    "-w",
                    dist,
                    REPO,
                ],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
                cwd=shared,
            )
            assert build.returncode == 0, build.stderr
    return dist


def stacktest(cmd: Path, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKTEST_")}
    env |= {"NO_COLOR": "1", "COLUMNS": "200", "PATH": f"{cmd.parent}:{env.get('PATH', '')}"}
    return subprocess.run(
        [str(cmd), *args], cwd=root, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def just(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`just ARGS` in ``project``, with this interpreter as the recipes' $PYTHON, captured."""
    full = dict(os.environ) | {"PYTHON": sys.executable, "NO_COLOR": "1"} | (env or {})
    return subprocess.run(
        [shutil.which("just") or "just", *args],
        cwd=project,
        env=full,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
