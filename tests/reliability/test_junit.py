"""`stacktest junit merge`, attacked with the files a CI job hands it: it never replaces a file stacktest did
not write (unless told to), never writes through a symlink, and a shard's file with counts that are no
numbers is a usage error (18), never a crash (70)."""

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


MINE = "<my own report, kept by hand>\n"


def test_merge_never_replaces_a_file_stacktest_did_not_write(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    a, b = shard(tmp_path / "a.xml", "test_a"), shard(tmp_path / "b.xml", "test_b")
    (tmp_path / "report.xml").write_text(MINE)
    code, said = merge(capsys, a, b, "--into", tmp_path / "report.xml")
    assert code == 18, said
    assert "--force" in said and "Traceback" not in said
    assert (tmp_path / "report.xml").read_text() == MINE
    # a shard's own file named as the result (a typo in a CI step) is refused the same way
    before = a.read_text()
    assert merge(capsys, a, b, "--into", a)[0] == 18
    assert a.read_text() == before


def test_merge_replaces_its_own_result_and_any_file_with_force(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    a, b = shard(tmp_path / "a.xml", "test_a"), shard(tmp_path / "b.xml", "test_b")
    merged = tmp_path / "merged.xml"
    assert merge(capsys, a, "--into", merged)[0] == 0
    code, said = merge(capsys, a, b, "--into", merged)  # a CI step run again
    assert code == 0, said
    assert "test_b" in merged.read_text()
    (tmp_path / "report.xml").write_text(MINE)
    assert merge(capsys, a, b, "--into", tmp_path / "report.xml", "--force")[0] == 0
    assert "test_b" in (tmp_path / "report.xml").read_text()


def test_merge_never_writes_through_a_symlink(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    a = shard(tmp_path / "a.xml", "test_a")
    target = tmp_path / "bashrc"
    target.write_text(MINE)
    link = tmp_path / "merged.xml"
    link.symlink_to(target)
    assert merge(capsys, a, "--into", link)[0] == 18
    assert merge(capsys, a, "--into", link, "--force")[0] == 0  # the link is replaced, not followed
    assert target.read_text() == MINE
    assert not link.is_symlink() and "test_a" in link.read_text()


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
