"""`stacktest junit merge`, attacked with the files a CI job hands it: a shard's file with counts that are
no numbers is a usage error (18), never a crash (70)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from stacktest.cli.boundary import main


def merge(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    """``stacktest junit merge ARGS`` in this process; this process gets its signal handlers back."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        code = main(["junit", "merge", *map(str, args)])
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    printed = capsys.readouterr()
    return code, printed.out + printed.err


def shard(path: Path, test: str, tests: str = "1") -> Path:
    path.write_text(
        f"<?xml version='1.0' encoding='utf-8'?><testsuites><testsuite name='pytest' tests='{tests}' "
        f"failures='0' errors='0' skipped='0'><testcase classname='t' name='{test}' time='0.1'/>"
        "</testsuite></testsuites>"
    )
    return path


@pytest.mark.parametrize("tests", ["abc", "", "-3", "1e9"])
def test_a_shard_file_whose_counts_are_no_numbers_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tests: str
) -> None:
    bad = shard(tmp_path / "bad.xml", "test_a", tests=tests)
    code, said = merge(capsys, bad, "--into", tmp_path / "merged.xml")
    assert code == 18, said
    assert "internal" not in said and "Traceback" not in said
    assert str(bad) in said and "tests=" in said
    assert not (tmp_path / "merged.xml").exists()
