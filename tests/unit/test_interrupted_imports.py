"""Two edges of a Ctrl-C that lands in Python's own machinery rather than in stacktest's code, both met by
the random interruption trials (tests/reliability/test_interrupts.py): a lazy module being loaded, and an
``exec`` of a string (a dataclass being made) that a caught KeyboardInterrupt left."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest

from stacktest._lazy import lazy_module


@pytest.fixture
def sigint_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt, as while a command runs (signals.install_stop_handlers)."""

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    yield
    signal.signal(signal.SIGINT, previous)


def test_a_ctrl_c_while_a_lazy_module_loads_leaves_it_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sigint_raises: None
) -> None:
    (tmp_path / "interrupted_mod.py").write_text(
        "import signal\nsignal.raise_signal(signal.SIGINT)\nBEFORE = 1\nAFTER = 2\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "interrupted_mod", raising=False)
    module = lazy_module("interrupted_mod")
    with pytest.raises(KeyboardInterrupt):  # delivered, once the module's code has run to its end
        getattr(module, "BEFORE")  # noqa: B009 - the first read loads it
    assert (module.BEFORE, module.AFTER) == (1, 2)
    monkeypatch.delitem(sys.modules, "interrupted_mod")


MAIN = """\
import sys
import stacktest.cli.boundary

def interrupted_in_exec(argv=None):
    try:
        exec("def made():\\n    raise KeyboardInterrupt\\nmade()")  # a dataclass being made
    except KeyboardInterrupt:
        return 130  # the run was torn down and reported
    return 0

stacktest.cli.boundary.main = interrupted_in_exec
from stacktest.cli.entry import main
sys.exit(main())
"""


def test_python_m_exits_130_after_a_keyboard_interrupt_caught_from_exec(tmp_path: Path) -> None:
    pkg = tmp_path / "runs_entry"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text(MAIN)
    proc = subprocess.run(
        [sys.executable, "-m", "runs_entry"], check=False, cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 130, proc.stderr  # CPython alone ends it with SIGINT: -2
