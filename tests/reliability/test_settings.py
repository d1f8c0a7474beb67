"""Settings an audit tried: each one is a clear error naming the key (exit 10), never a silent default,
a traceback, or another folder's settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacktest.errors import ConfigError
from stacktest.settings import load_settings
from tests.conftest import run_cli

BACKEND = (
    "[tool.stacktest.cleanup.backends.b]\nkind = 'http'\nservice = 's'\nport = 80\n"
    "list = '/l'\ndelete = '/d/{id}'\n"
)
CASES = {
    "enabled as a string": (BACKEND + "enabled = 'false'\n", "enabled"),
    "an array of backend tables": (
        "[[tool.stacktest.cleanup.backends]]\nkind = 'redis'\n",
        "not an array of tables",
    ),
    "inf": ("ready_timeout = inf\n", "ready_timeout"),
    "nan": ("poll_interval = nan\n", "poll_interval"),
    "reap_age of 0": ("reap_age = 0.0\n", "reap_age"),
    "port = true": ("[tool.stacktest.probes.web]\nhttp = '/health'\nport = true\n", "probes.web"),
    "a probe path naming another host": (
        "[tool.stacktest.probes.web]\nhttp = '@evil.example/'\nport = 80\n",
        "must be a path starting with '/'",
    ),
    "a list path naming another host": (
        BACKEND.replace("list = '/l'", "list = '@evil.example/x'"),
        "must be a path starting with '/'",
    ),
    "an unknown key in related": (
        "[tool.stacktest.cleanup.backends.r]\nkind = 'redis'\nservice = 's'\nport = 6379\nmatch = 'c:*'\n"
        "related = [{ match = 't:*', field = 'id', fields = 'x' }]\n",
        "exactly match and field",
    ),
}


def write(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text("[tool.stacktest]\n" + body)
    return folder


@pytest.mark.parametrize("name", CASES)
def test_bad_setting_is_a_clear_error(tmp_path: Path, name: str) -> None:
    body, words = CASES[name]
    write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_settings(cwd=tmp_path, environ={})
    assert words in str(info.value) and str(tmp_path / "pyproject.toml") in str(info.value)


def test_a_broken_nearest_pyproject_is_not_skipped_for_a_parent_one(tmp_path: Path) -> None:
    write(tmp_path, "project_prefix = 'parent'\n")
    child = tmp_path / "child"
    child.mkdir()
    (child / "pyproject.toml").write_text("[tool.stacktest\nbroken = \n")
    result = run_cli(["status"], child)
    assert result.returncode == 10, result.stderr
    assert "error[config]" in result.stderr and str(child / "pyproject.toml") in result.stderr
