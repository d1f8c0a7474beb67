"""Sidecar coverage on the host side: overlay, config validation, combine with container paths mapped."""

from __future__ import annotations

from pathlib import Path

import coverage
import pytest
import yaml

from stacktest.coverage import report as _report
from stacktest.coverage import spy as _spy
from stacktest.errors import ConfigError, CoverageError
from stacktest.settings import load_settings

pytestmark = pytest.mark.unit


def settings(tmp_path: Path, services: str = "['web']"):  # type: ignore[no-untyped-def]
    (tmp_path / "pyproject.toml").write_text(
        f"[tool.stacktest]\n[tool.stacktest.coverage]\nservices = {services}\n"
        "[tool.stacktest.coverage.paths]\nweb = { '/app' = 'src' }\n"
    )
    return load_settings(config=tmp_path / "pyproject.toml", environ={})


def test_overlay_has_the_seed_shape(tmp_path: Path) -> None:
    config = {"services": {"web": {"environment": {"PYTHONPATH": "/opt/lib"}}, "db": {}}}
    path = _spy.overlay(settings(tmp_path), config, tmp_path / "o.yml")
    data = yaml.safe_load(path.read_text())
    web = data["services"]["web"]
    assert web["environment"]["PYTHONPATH"] == "/coverage-spy:/opt/lib"
    assert web["environment"]["COVERAGE_FILE"] == "/coverage-data/run/.coverage"
    assert web["environment"]["STACKTEST_COVERAGE_SOURCE"] == "/app"
    # volumes only: no folder of this machine is mounted (a remote engine would mount an empty one)
    assert web["volumes"] == ["stacktest-spy:/coverage-spy:ro", "stacktest-coverage-web:/coverage-data"]
    assert "db" not in data["services"]
    assert sorted(data["volumes"]) == ["stacktest-coverage-web", "stacktest-spy"]  # one per covered service
    assert "STACKTEST_STOP_SIGNAL" not in web["environment"]


def test_overlay_keeps_the_image_pythonpath_and_the_stop_signal(tmp_path: Path) -> None:
    config = {"services": {"web": {"stop_signal": "SIGQUIT"}}}
    path = _spy.overlay(settings(tmp_path), config, tmp_path / "o.yml", {"web": "/srv/lib:/srv/vendor"})
    env = yaml.safe_load(path.read_text())["services"]["web"]["environment"]
    assert env["PYTHONPATH"] == "/coverage-spy:/srv/lib:/srv/vendor"
    assert env["STACKTEST_STOP_SIGNAL"] == "SIGQUIT"


def test_overlay_refuses_an_unknown_service(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'nope'"):
        _spy.overlay(settings(tmp_path, "['nope']"), {"services": {"web": {}}}, tmp_path / "o")


def test_a_broken_rcfile_is_refused_naming_it(tmp_path: Path) -> None:
    rc = tmp_path / ".coveragerc"
    rc.write_text("[run]\nbranch = maybe\n")
    with pytest.raises(CoverageError) as info:
        _spy.validate_rcfile(rc)
    assert str(rc) in str(info.value)


def test_the_generated_rcfile_is_valid_and_says_what_the_spy_needs(tmp_path: Path) -> None:
    rc = tmp_path / ".coveragerc"
    rc.write_text(_spy.RCFILE)
    _spy.validate_rcfile(rc)  # raises when broken
    cov = coverage.Coverage(config_file=str(rc), data_file=None)
    assert cov.get_option("run:parallel") is True  # a data file per process
    assert cov.get_option("run:patch") == ["_exit"]  # forked workers that end with os._exit keep data


def fake_container_data(folder: Path, hostname: str, lines: dict[str, set[int]]) -> None:
    """A data file as a container would write it, with container paths."""
    folder.mkdir(parents=True, exist_ok=True)
    data = coverage.CoverageData(basename=str(folder / f".coverage.{hostname}.pid1.Xabc"))
    data.add_lines({path: sorted(nums) for path, nums in lines.items()})
    data.write()


def test_combine_maps_each_service_on_its_own(tmp_path: Path) -> None:
    # two services both keep their code in /app: each is mapped to its own host folder
    for svc, body in (("auth", "a = 1\nb = 2\nc = 3\n"), ("api", "x = 1\ny = 2\n")):
        (tmp_path / svc).mkdir()
        (tmp_path / svc / "main.py").write_text(body)
    data = tmp_path / "data"
    fake_container_data(data / "auth", "h1", {"/app/main.py": {1, 2}})
    fake_container_data(data / "auth", "h2", {"/app/main.py": {3}})
    fake_container_data(data / "api", "h3", {"/app/main.py": {1}})
    paths = {"auth": {"/app": "auth"}, "api": {"/app": "api"}}
    per = _report.combine(data, ["auth", "api"], paths, tmp_path, tmp_path / "out")
    assert set(per) == {"auth", "api"}
    total = coverage.CoverageData(basename=str(tmp_path / "out" / ".coverage"))
    total.read()
    assert total.lines(str(tmp_path / "auth" / "main.py")) is not None
    assert sorted(total.lines(str(tmp_path / "auth" / "main.py")) or []) == [1, 2, 3]
    assert sorted(total.lines(str(tmp_path / "api" / "main.py")) or []) == [1]
    rep = _report.report(tmp_path / "out", per, paths, tmp_path, tmp_path / "out")
    figures = {f.service: f for f in rep.services}
    assert figures["auth"].percent == 100.0
    assert figures["api"].percent == 50.0
    assert rep.total.statements == 5 and rep.total.missing == 1
    assert rep.xml.is_file() and (rep.html / "index.html").is_file()


def test_combine_with_no_data_reports_nothing(tmp_path: Path) -> None:
    per = _report.combine(
        tmp_path / "empty", ["auth"], {"auth": {"/app": "auth"}}, tmp_path, tmp_path / "out"
    )
    assert per == {}


def test_spy_source_is_shipped() -> None:
    assert (_spy.spy_source() / "sitecustomize.py").is_file()


def test_many_files_are_combined_in_parts_with_the_same_result(tmp_path: Path) -> None:
    """Over PARALLEL_COMBINE_FROM files, combining runs in a process per core; the result is the same."""
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "main.py").write_text("".join(f"v{i} = {i}\n" for i in range(300)))
    data = tmp_path / "data"
    count = _report.PARALLEL_COMBINE_FROM + 50
    for i in range(count):
        fake_container_data(data / "web", f"h{i}", {"/app/main.py": {i + 1}})
    paths = {"web": {"/app": "web"}}
    _report.combine(data, ["web"], paths, tmp_path, tmp_path / "out")
    merged = coverage.CoverageData(basename=str(tmp_path / "out" / ".coverage.web"))
    merged.read()
    assert sorted(merged.lines(str(tmp_path / "web" / "main.py")) or []) == list(range(1, count + 1))
    assert not list((tmp_path / "out").glob("*.part*"))  # the parts are gone


def test_the_repository_s_packages_are_measured_beside_a_service_s_source_folders(tmp_path: Path) -> None:
    """Installed with `pip install .`, a repository package runs from site-packages, which no paths
    entry names: the spy measures it by name, in every covered service."""
    config: dict[str, dict[str, dict[str, str]]] = {"services": {"web": {}, "job": {}}}
    s = settings(tmp_path, "['web', 'job']")
    env = yaml.safe_load(
        _spy.overlay(s, config, tmp_path / "a.yml", packages=["shop", "billing"]).read_text()
    )["services"]
    assert env["web"]["environment"]["STACKTEST_COVERAGE_PACKAGES"] == "shop:billing"
    assert env["web"]["environment"]["STACKTEST_COVERAGE_SOURCE"] == "/app"  # its paths: /app = src
    # no folder mapped: the packages too (else they would be left out as site-packages) beside its
    # working folder (the spy's rule, coverage-spy/sitecustomize.py)
    assert env["job"]["environment"]["STACKTEST_COVERAGE_PACKAGES"] == "shop:billing"


def test_the_cli_combines_many_files_in_worker_processes(tmp_path: Path) -> None:
    """From the command line too: the worker processes must not run the CLI again (they start by
    importing the main module; `python -m stacktest` and the console script both guard against it)."""
    from tests.conftest import run_cli

    (tmp_path / "pyproject.toml").write_text(
        "[tool.stacktest]\n[tool.stacktest.coverage]\nservices = ['web']\n"
        "[tool.stacktest.coverage.paths]\nweb = { '/app' = 'web' }\n"
    )
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "main.py").write_text("".join(f"v{i} = {i}\n" for i in range(300)))
    count = _report.PARALLEL_COMBINE_FROM + 60
    for i in range(count):
        fake_container_data(tmp_path / "art" / "web", f"h{i}", {"/app/main.py": {i + 1}})
    result = run_cli(["coverage", "combine", "art"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{count / 300 * 100:.1f}%" in result.stdout
