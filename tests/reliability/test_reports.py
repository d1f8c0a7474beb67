"""The coverage reports, attacked through the data a container writes: data naming a host file that is no
source file of the repository (a git-ignored `.env`, a file outside the source roots or the repository)
never puts that file's content into a report, and the run's output says which files were left out."""

from __future__ import annotations

import html
import re
import subprocess
from pathlib import Path

import coverage

from tests.conftest import run_cli

SECRET = "sk-live-hunter2"  # a line of a .env file is valid Python: the HTML report would show it
PRIVATE = "private_key_material"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, timeout=30)


def _container_data(folder: Path, lines: dict[str, list[int]]) -> None:
    """A data file as a service's container could write it: any file names it likes."""
    folder.mkdir(parents=True, exist_ok=True)
    data = coverage.CoverageData(basename=str(folder / ".coverage.h1.pid1.Xabc"))
    data.add_lines(lines)
    data.write()


def _repository(tmp_path: Path, paths: str) -> tuple[Path, Path]:
    """A git repository whose service code is in src/ (tracked), with a git-ignored src/.env, a tracked
    file outside the source roots, and beside it (outside the repository) a private file."""
    repo, home = tmp_path / "repo", tmp_path / "home"
    (repo / "src").mkdir(parents=True)
    (repo / "tools").mkdir()
    home.mkdir()
    (repo / "pyproject.toml").write_text(
        f"[tool.stacktest]\n[tool.stacktest.coverage]\nservices = ['web']\n{paths}"
    )
    (repo / ".gitignore").write_text(".env\n.stacktest/\n")
    (repo / "src" / "app.py").write_text("def handler():\n    return 'app_code_shown'\n")
    (repo / "src" / ".env").write_text(f"API_KEY={SECRET}\n")
    (repo / "tools" / "release.py").write_text("TOKEN = 'tools_not_a_source_root'\n")
    (home / "id.py").write_text(f"KEY = '{PRIVATE}'\n")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    return repo, home


def _showing(repo: Path, text: str) -> list[str]:
    """The report files (HTML, XML, JSON) that show ``text`` (HTML as a browser shows it: no tags)."""
    reports = repo / ".stacktest" / "coverage"
    found = []
    for path in reports.rglob("*"):
        if path.is_file() and not path.name.startswith(".coverage"):
            shown = html.unescape(re.sub(r"<[^>]*>", "", path.read_text(errors="replace")))
            if text in shown:
                found.append(str(path.relative_to(reports)))
    return sorted(found)


def test_data_naming_an_ignored_env_file_never_puts_it_in_the_report(tmp_path: Path) -> None:
    repo, home = _repository(tmp_path, "[tool.stacktest.coverage.paths]\nweb = { '/app' = 'src' }\n")
    _container_data(
        repo / "art" / "web",
        {
            "/app/app.py": [1, 2],
            "/app/.env": [1],  # mapped to src/.env: under the source root, but git ignores it
            str(repo / "tools" / "release.py"): [1],  # tracked, outside the source roots
            str(home / "id.py"): [1],  # outside the repository
        },
    )
    result = run_cli(["coverage", "combine", "art"], repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _showing(repo, "app_code_shown")  # the service's own code is reported
    assert _showing(repo, SECRET) == []
    assert _showing(repo, "tools_not_a_source_root") == []
    assert _showing(repo, PRIVATE) == []
    said = result.stdout + result.stderr
    assert "not in the repository" in said
    for left_out in (repo / "src" / ".env", repo / "tools" / "release.py", home / "id.py"):
        assert str(left_out) in said


def test_without_source_roots_only_the_repository_s_files_are_reported(tmp_path: Path) -> None:
    """No coverage.paths at all: the repository root is the source root, never the whole machine."""
    repo, home = _repository(tmp_path, "")
    _container_data(
        repo / "art" / "web",
        {str(repo / "src" / "app.py"): [1, 2], str(repo / "src" / ".env"): [1], str(home / "id.py"): [1]},
    )
    result = run_cli(["coverage", "combine", "art"], repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _showing(repo, "app_code_shown")
    assert _showing(repo, SECRET) == []
    assert _showing(repo, PRIVATE) == []
    assert str(home / "id.py") in result.stdout + result.stderr


def _links(page: str) -> list[str]:
    from html.parser import HTMLParser

    found: list[str] = []

    class Links(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.extend(v or "" for k, v in attrs if k in ("href", "src"))

    Links().feed(page)
    return found


def test_a_service_named_like_a_javascript_url_never_becomes_a_link_to_run() -> None:
    """`coverage combine` takes its services from folder names: a folder `javascript:alert(1)` must not
    make the index link to a script."""
    from urllib.parse import urlsplit

    from stacktest.coverage import report as _report

    names = ["javascript:alert(document.domain)", "data:text/html,<script>x</script>", "JaVaScRiPt:x", "web"]
    figures = [_report.ServiceFigure(name, 1, 0, 100.0) for name in names]
    page = _report.index_page(figures, _report.ServiceFigure("TOTAL", 4, 0, 100.0), [])
    links = _links(page)
    assert len(links) == len(names) + 1  # every service still has its row's link, and "all services"
    for link in links:
        parts = urlsplit(link)
        assert parts.scheme == "" and parts.netloc == "" and not link.startswith("/"), link
    assert "web/index.html" in links
