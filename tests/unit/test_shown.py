"""Which files a coverage report may show: under a source root, and a file of the repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from stacktest.coverage import shown as _shown

pytestmark = pytest.mark.unit


def _tree(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    for rel, text in {
        "src/app.py": "x = 1\n",
        "src/templates/page.html": "<p>tracked, not Python</p>\n",
        "src/new.py": "y = 2\n",  # not added yet
        "src/notes.txt": "untracked, not Python\n",
        "src/.env": "API_KEY=secret\n",
        "src/generated_pb2.py": "z = 3\n",  # ignored
        "other/tool.py": "t = 1\n",
        ".gitignore": ".env\n*_pb2.py\n",
    }.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    (tmp_path / "outside.py").write_text("secret = 1\n")
    (repo / "src" / "escape.py").symlink_to(tmp_path / "outside.py")
    return repo


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, timeout=30)


def test_in_git_only_tracked_files_and_python_git_would_track_are_shown(tmp_path: Path) -> None:
    repo = _tree(tmp_path)
    _git(repo, "init", "-q")
    _git(repo, "add", "src/app.py", "src/templates/page.html", "src/escape.py", "other/tool.py")
    shown = _shown.Shown((repo.resolve() / "src",), _shown.git_listing(repo / "src"))
    allowed = {p for p in ("app.py", "templates/page.html", "new.py") if shown.allows(str(repo / "src" / p))}
    assert allowed == {"app.py", "templates/page.html", "new.py"}
    for refused in ("src/notes.txt", "src/.env", "src/generated_pb2.py", "src/escape.py", "other/tool.py"):
        assert not shown.allows(str(repo / refused)), refused
    assert not shown.allows(str(repo / "src" / ".." / "other" / "tool.py"))  # `..` leaves the root
    assert not shown.allows(str(tmp_path / "outside.py"))
    assert not shown.allows("/etc/passwd")
    assert not shown.allows("bad\0name")


def test_outside_git_only_python_source_under_the_roots_is_shown(tmp_path: Path) -> None:
    repo = _tree(tmp_path)
    assert _shown.git_listing(repo) is None
    shown = _shown.Shown((repo.resolve() / "src",), None)
    assert shown.allows(str(repo / "src" / "app.py"))
    assert not shown.allows(str(repo / "src" / ".env"))
    assert not shown.allows(str(repo / "src" / "notes.txt"))
    assert not shown.allows(str(repo / "src" / "escape.py"))  # a symlink out of the root
    assert not shown.allows(str(repo / "other" / "tool.py"))


def test_roots_fall_back_to_every_service_s_then_the_repository(tmp_path: Path) -> None:
    paths = {"web": {"/app": "web/src"}, "job": {}}
    assert _shown.roots(paths, tmp_path, None, "web") == ((tmp_path / "web/src").resolve(),)
    assert _shown.roots(paths, tmp_path, None, "job") == ((tmp_path / "web/src").resolve(),)
    assert _shown.roots({}, tmp_path, None, "job") == (tmp_path.resolve(),)
    pkg = {"shop": tmp_path / "lib" / "shop"}
    assert _shown.roots({}, tmp_path, pkg) == ((tmp_path / "lib" / "shop").resolve(),)
