"""`--affected`: the diff parser, the rule set over a real git repository in a temporary folder, the test
map's format, and what the plugin keeps."""

from __future__ import annotations

import subprocess
from pathlib import Path

import coverage
import pytest

from stacktest.adapters import git
from stacktest.coverage import testmap
from stacktest.settings import load_settings
from stacktest.testrun import affected

pytestmark = pytest.mark.unit

DIFF = b"""diff --git a/svc/app.py b/svc/app.py
index 1..2 100644
--- a/svc/app.py
+++ b/svc/app.py
@@ -3 +3 @@ def f():
-    return 1
+    return 2
@@ -10,0 +11,2 @@ def g():
+    x = 1
+    y = 2
@@ -20,2 +21,0 @@
-    a
-    b
diff --git a/gone.py b/gone.py
deleted file mode 100644
--- a/gone.py
+++ /dev/null
@@ -1,2 +0,0 @@
-x = 1
-y = 2
diff --git a/new.py b/new.py
new file mode 100644
--- /dev/null
+++ b/new.py
@@ -0,0 +1 @@
+z = 3
"""


def test_the_diff_gives_each_file_the_old_lines_it_touches() -> None:
    changes = git.parse_diff(DIFF)
    assert changes == [
        git.Change("svc/app.py", "svc/app.py", frozenset({3, 10, 11, 20, 21})),
        git.Change("gone.py", None, frozenset({1, 2})),
        git.Change(None, "new.py", frozenset({0, 1})),
    ]


def test_ranges_round_trip() -> None:
    assert testmap.ranges([9, 1, 2, 3, 7, 10]) == "1-3,7,9-10"
    assert testmap.parse_ranges("1-3,7,9-10") == {1, 2, 3, 7, 9, 10}
    assert testmap.parse_ranges("") == frozenset()


def test_a_map_of_another_version_is_not_read() -> None:
    assert testmap.from_json({"version": 99, "tests": {}, "files": {}}) is None
    assert testmap.from_json({"version": 1, "tests": {"t": {"a.py": "x-y"}}, "files": {}}) is None
    assert testmap.from_json(None) is None


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


APP = "def f():\n    return 1\n\n\ndef g():\n    return 2\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "svc").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "docs").mkdir()
    (root / "pyproject.toml").write_text(
        '[tool.stacktest]\ncompose_files = ["compose.yaml"]\ntests = ["tests"]\n'
    )
    (root / "compose.yaml").write_text("services: {}\n")
    (root / "svc" / "app.py").write_text(APP)
    (root / "svc" / "other.py").write_text("X = 1\n")
    (root / "tests" / "test_app.py").write_text("def test_f():\n    pass\n")
    (root / "docs" / "index.md").write_text("# docs\n")
    _git(root, "init", "-q")
    _git(root, "-c", "user.email=a@b", "-c", "user.name=a", "add", ".")
    _git(root, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "one")
    settings = load_settings(cwd=root, environ={})
    recorded = testmap.TestMap(
        {
            "tests/test_app.py::test_f": {"svc/app.py": frozenset({2}), "tests/test_app.py": frozenset({2})},
            "tests/test_app.py::test_g": {"svc/app.py": frozenset({6})},
            "tests/test_app.py::test_none": {},
        },
        {name: testmap.digest(root / name) for name in ("svc/app.py", "tests/test_app.py")},
    )
    settings.state.write_last(testmap.MAP_FILE, recorded.as_json())
    return root


def choose(root: Path, rev: str = "HEAD") -> affected.Selection:
    return affected.select(load_settings(cwd=root, environ={}), rev)


def test_a_changed_line_selects_the_tests_that_reached_it(repo: Path) -> None:
    (repo / "svc" / "app.py").write_text(APP.replace("return 2", "return 3"))
    chosen = choose(repo)
    assert not chosen.everything
    assert chosen.tests == {"tests/test_app.py::test_g"}
    assert len(chosen.known) == 3


def test_a_line_inserted_inside_a_function_selects_its_tests(repo: Path) -> None:
    (repo / "svc" / "app.py").write_text(APP.replace("    return 1\n", "    print()\n    return 1\n"))
    assert choose(repo).tests == {"tests/test_app.py::test_f"}


def test_documentation_selects_nothing(repo: Path) -> None:
    (repo / "docs" / "index.md").write_text("# more docs\n")
    chosen = choose(repo)
    assert not chosen.everything and chosen.tests == frozenset() and chosen.changed == ()


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("compose.yaml", "the images or the stack are built from it"),
        ("svc/Dockerfile", "the images or the stack are built from it"),
        ("svc/requirements.txt", "the images or the stack are built from it"),
        ("svc/other.py", "was never measured"),
        ("svc/templates/page.html", "was never measured"),
    ],
)
def test_what_the_map_cannot_judge_runs_everything(repo: Path, name: str, why: str) -> None:
    (repo / name).parent.mkdir(parents=True, exist_ok=True)
    (repo / name).write_text("changed\n")
    chosen = choose(repo)
    assert chosen.everything and why in chosen.why[0], chosen.why


def test_a_file_the_map_measured_in_another_version_runs_everything(repo: Path) -> None:
    (repo / "svc" / "app.py").write_text(APP + "\n# later\n")
    _git(repo, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qam", "two")
    (repo / "svc" / "app.py").write_text(APP.replace("return 2", "return 3") + "\n# later\n")
    chosen = choose(repo)
    assert chosen.everything and "is not the file the map measured" in chosen.why[0]


def test_a_new_test_module_runs_as_new_tests(repo: Path) -> None:
    (repo / "tests" / "test_new.py").write_text("def test_new():\n    pass\n")
    chosen = choose(repo)
    assert not chosen.everything and chosen.tests == frozenset()
    kept = affected.apply(
        ["tests/test_app.py::test_f", "tests/test_new.py::test_new"], chosen.tests, chosen.known
    )
    assert kept == ["tests/test_new.py::test_new"]


def test_without_a_map_everything_runs_and_says_how_to_record_one(repo: Path) -> None:
    load_settings(cwd=repo, environ={}).state.last(testmap.MAP_FILE).unlink()
    chosen = choose(repo)
    assert chosen.everything and "--contexts" in chosen.why[0]


def test_an_unknown_revision_runs_everything(repo: Path) -> None:
    chosen = choose(repo, "no-such-branch")
    assert chosen.everything and "no commit" in chosen.why[0]


def test_the_map_is_built_from_contexts(tmp_path: Path) -> None:
    source = tmp_path / "svc.py"
    source.write_text("a = 1\nb = 2\nc = 3\n")
    data = coverage.CoverageData(basename=str(tmp_path / ".coverage.svc"))
    data.set_context("unattributed")
    data.add_lines({str(source): [1]})
    data.set_context("t.py::test_x")
    data.add_lines({str(source): [2, 3]})
    data.write()
    built = testmap.build([tmp_path / ".coverage.svc"], tmp_path)
    assert built.tests == {"t.py::test_x": {"svc.py": frozenset({2, 3})}}
    assert built.files == {"svc.py": testmap.digest(source)}
    assert testmap.from_json(built.as_json()) == testmap.TestMap(
        built.tests, built.files, built.created, built.commit
    )
    assert testmap.reached_by({"svc": tmp_path / ".coverage.svc"}, tmp_path, ["t.py::test_x"]) == {
        "t.py::test_x": {"svc": "svc.py 2-3"}
    }


def test_a_broader_fixtures_lines_belong_to_every_test_that_uses_it(tmp_path: Path) -> None:
    source = tmp_path / "svc.py"
    source.write_text("a = 1\nb = 2\nc = 3\n")
    data = coverage.CoverageData(basename=str(tmp_path / ".coverage.svc"))
    data.set_context("t.py::[fixture:client]")
    data.add_lines({str(source): [1, 2]})
    data.set_context("t.py::test_x")
    data.add_lines({str(source): [3]})
    data.write()
    uses = {
        "t.py::test_x": ["t.py::[fixture:client]"],
        "t.py::test_y": ["t.py::[fixture:client]"],
        "t.py::test_z": [],
    }
    built = testmap.build([tmp_path / ".coverage.svc"], tmp_path, uses)
    assert built.tests == {
        "t.py::test_x": {"svc.py": frozenset({1, 2, 3})},
        "t.py::test_y": {"svc.py": frozenset({1, 2})},
        "t.py::test_z": {},
    }


def test_the_revision_is_the_first_argument_when_it_names_a_commit(repo: Path) -> None:
    from stacktest.commands.testing import RunRequest

    settings = load_settings(cwd=repo, environ={})
    _git(repo, "branch", "base")
    chosen = RunRequest.checked(settings, "default", ["base", "-k", "x"], affected=True)
    assert (chosen.affected, chosen.args) == ("base", ("-k", "x"))
    default = RunRequest.checked(settings, "default", ["-k", "x"], affected=True)
    assert (default.affected, default.args) == ("HEAD", ("-k", "x"))
    (repo / "base").mkdir()  # a folder of that name: a path for pytest, not a revision
    folder = RunRequest.checked(settings, "default", ["base"], affected=True)
    assert (folder.affected, folder.args) == ("HEAD", ("base",))
    assert RunRequest.checked(settings, "default", ["base"]).affected is None
