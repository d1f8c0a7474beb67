"""Settings: precedence DEFAULT < PYPROJECT < ENV < CLI, and errors that name the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacktest.errors import ConfigError
from stacktest.settings import FIELDS, Field, Probe, load_settings

pytestmark = pytest.mark.unit


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.stacktest]\n" + body)
    return path


def test_defaults_when_the_table_is_empty(tmp_path: Path) -> None:
    s = load_settings(config=write(tmp_path, ""), environ={})
    assert s.ready_timeout == 120.0
    assert s.compose_files == ("docker-compose.yml",)
    assert s.cleanup_prefix == "TEST "
    assert s.root == tmp_path


def test_precedence_file_then_env_then_cli(tmp_path: Path) -> None:
    path = write(tmp_path, "ready_timeout = 30\nproject_prefix = 'fromfile'\n")
    s = load_settings(config=path, environ={})
    assert (s.ready_timeout, s.project_prefix) == (30.0, "fromfile")
    s = load_settings(config=path, environ={"STACKTEST_READY_TIMEOUT": "45"})
    assert (s.ready_timeout, s.project_prefix) == (45.0, "fromfile")
    s = s.with_overrides(ready_timeout=5, project_prefix=None)
    assert (s.ready_timeout, s.project_prefix) == (5.0, "fromfile")


def test_nested_keys_have_env_vars(tmp_path: Path) -> None:
    path = write(tmp_path, "[tool.stacktest.cleanup]\nprefix = 'T1 '\n")
    assert load_settings(config=path, environ={}).cleanup_prefix == "T1 "
    assert load_settings(config=path, environ={"STACKTEST_CLEANUP_PREFIX": "T2 "}).cleanup_prefix == "T2 "


def test_list_from_env_splits_on_commas(tmp_path: Path) -> None:
    s = load_settings(config=write(tmp_path, ""), environ={"STACKTEST_COMPOSE_FILES": "a.yml,b.yml"})
    assert s.compose_files == ("a.yml", "b.yml")


def test_unknown_key_names_key_file_and_a_guess(tmp_path: Path) -> None:
    path = write(tmp_path, "ready_timout = 3\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config=path, environ={})
    assert "tool.stacktest.ready_timout" in str(info.value)
    assert str(path) in str(info.value)
    assert "did you mean 'ready_timeout'" in str(info.value)


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("ready_timeout = 'soon'\n", "ready_timeout"),
        ("compose_files = 'one.yml'\n", "compose_files"),
        ("cleanup_after_tests = 'maybe'\n", "cleanup_after_tests"),
        ("images = 'remote'\n", "images"),
        ("log_section_lines = true\n", "log_section_lines"),
        ("workers_per_core = -1\n", "workers_per_core"),
        ("workers_per_core = 100\n", "workers_per_core"),
    ],
)
def test_wrong_type_names_key_and_file(tmp_path: Path, body: str, key: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_settings(config=path, environ={})
    assert key in str(info.value) and str(path) in str(info.value)


def test_wrong_type_in_env_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="STACKTEST_STOP_TIMEOUT"):
        load_settings(config=write(tmp_path, ""), environ={"STACKTEST_STOP_TIMEOUT": "ten"})


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config=tmp_path / "nope.toml", environ={})


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.stacktest\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config=path, environ={})


def test_invalid_project_prefix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a valid compose project name"):
        load_settings(config=write(tmp_path, "project_prefix = 'My Stack'\n"), environ={})


def test_non_positive_timeout(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="greater than 0"):
        load_settings(config=write(tmp_path, "ready_timeout = 0\n"), environ={})


def test_probes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[tool.stacktest.probes.web]\nhttp = '/health'\nport = 8000\n"
        "[tool.stacktest.probes.db]\ntcp = 5432\n",
    )
    s = load_settings(config=path, environ={})
    assert s.probes == {"web": Probe("http", 8000, path="/health"), "db": Probe("tcp", 5432)}
    assert s.ready_timeouts == {}


def test_log_probes_and_per_service_ready_timeouts(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[tool.stacktest.probes.worker]\nlog = 'Listening on \\d+'\nready_timeout = 30\n"
        "[tool.stacktest.probes.search]\nready_timeout = 300\n",
    )
    s = load_settings(config=path, environ={})
    assert s.probes == {"worker": Probe("log", pattern=r"Listening on \d+")}
    assert s.ready_timeouts == {"worker": 30.0, "search": 300.0}


@pytest.mark.parametrize(
    "body",
    [
        "[tool.stacktest.probes.web]\nhttp = '/health'\n",
        "[tool.stacktest.probes.web]\nhttps = '/x'\nport = 1\n",
        "[tool.stacktest.probes.web]\ntcp = 'x'\n",
        "[tool.stacktest.probes.web]\nlog = '('\n",
        "[tool.stacktest.probes.web]\nlog = ''\n",
        "[tool.stacktest.probes.web]\nlog = 'x'\ntcp = 1\n",
        "[tool.stacktest.probes.web]\nready_timeout = 0\n",
        "[tool.stacktest.probes.web]\nready_timeout = 'soon'\n",
    ],
)
def test_bad_probe(tmp_path: Path, body: str) -> None:
    with pytest.raises(ConfigError, match=r"tool\.stacktest\.probes\.web"):
        load_settings(config=write(tmp_path, body), environ={})


def test_cleanup_backend_needs_a_pattern(tmp_path: Path) -> None:
    body = "[tool.stacktest.cleanup.backends.r]\nkind = 'redis'\nservice = 'redis'\nport = 6379\n"
    with pytest.raises(ConfigError, match="match"):
        load_settings(config=write(tmp_path, body), environ={})


def test_pyproject_is_found_upwards(tmp_path: Path) -> None:
    write(tmp_path, "ready_timeout = 7\n")
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert load_settings(cwd=tmp_path / "a" / "b", environ={}).ready_timeout == 7.0


# per kind: a text as an environment variable or --set gives it, and the typed value it must become
SAMPLES: dict[str, tuple[str, object]] = {
    "str": ("x-sample", "x-sample"),
    "optional-str": ("x-sample", "x-sample"),
    "float": ("7.5", 7.5),
    "optional-float": ("7.5", 7.5),
    "int": ("7", 7),
    "list": ("a.yml,b.yml", ("a.yml", "b.yml")),
}


def sample(f: Field) -> tuple[str, object]:
    """A text for ``f`` that is not its default, and the value it must be read as."""
    if f.kind == "choice":
        choice = next(c for c in f.choices if c != f.default)
        return choice, choice
    if f.kind == "bool":
        return ("false", False) if f.default else ("true", True)
    return SAMPLES[f.kind]


def test_every_field_is_read_from_its_own_environment_variable(tmp_path: Path) -> None:
    for f in FIELDS:
        raw, expected = sample(f)
        assert expected != f.default, f.key
        s = load_settings(cwd=tmp_path, environ={f.env: raw})
        assert f.help and getattr(s, f.attr) == expected, f"{f.env}={raw!r} did not set {f.key}"


def test_what_the_command_line_set_reaches_a_child_process_s_settings(tmp_path: Path) -> None:
    """`--set` (and named flags) given to stacktest reach the plugin in pytest and in each xdist worker:
    they read the settings again from the environment stacktest gives them (Settings.environment)."""
    (tmp_path / "pyproject.toml").write_text("[tool.stacktest]\nready_timeout = 9\n")
    parent = load_settings(cwd=tmp_path, environ={})
    for f in FIELDS:
        raw, expected = sample(f)
        given = parent.with_cli({f.key: raw})
        child = load_settings(cwd=tmp_path / "elsewhere", environ=given.environment())
        assert getattr(child, f.attr) == expected, f"--set {f.key}={raw!r} did not reach the child"
        assert child.source == tmp_path / "pyproject.toml"
    flagged = parent.with_cli({}, ready_timeout=3.0, domain_markers=("a", "b"))
    child = load_settings(cwd=tmp_path, environ=flagged.environment())
    assert (child.ready_timeout, child.domain_markers) == (3.0, ("a", "b"))
    assert load_settings(cwd=tmp_path, environ=parent.environment()).ready_timeout == 9.0


def test_the_repository_settings_load() -> None:
    s = load_settings(config=Path(__file__).parents[2] / "pyproject.toml", environ={})
    assert s.coverage_services == ("auth", "api")
    assert {b.name for b in s.cleanup_backends} == {"auth-redis", "auth-http"}


def test_the_configuration_page_lists_every_declared_setting() -> None:
    from stacktest.settings import keys_table

    page = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    assert keys_table() in page, "docs/configuration.md is out of date: paste settings.keys_table() into it"


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("compose_files", 3, "compose_files in f: expected a list of strings, got 3"),
        ("project_name", 5, "project_name in f: expected a string, got 5"),
        ("stop_timeout", "soon", "stop_timeout in f: expected a number, got 'soon'"),
        ("ready_timeout", "inf", "ready_timeout in f: expected a finite number, got 'inf'"),
        ("log_section_lines", 2.5, "log_section_lines in f: expected int, got 2.5"),
        ("cleanup_after_tests", "maybe", "cleanup_after_tests in f: expected bool, got 'maybe'"),
        ("images", "cloud", "images in f: 'cloud' is not one of compose, local, public"),
    ],
)
def test_a_wrong_value_says_what_each_kind_expects(key: str, value: object, says: str) -> None:
    """The one coercion rule, kind by kind: the message names the key, where it came from, what the kind
    expects and what it got (a file's TOML types are not parsed from text)."""
    from stacktest.errors import ConfigError
    from stacktest.settings.fields import FIELD_BY_KEY, coerce

    with pytest.raises(ConfigError) as raised:
        coerce(FIELD_BY_KEY[key], value, f"{key} in f")
    assert str(raised.value).startswith(says), str(raised.value)


def test_optional_kinds_take_none_and_text_is_parsed_only_from_text() -> None:
    from stacktest.settings.fields import FIELD_BY_KEY, coerce

    assert coerce(FIELD_BY_KEY["stop_timeout"], None, "x") is None
    assert coerce(FIELD_BY_KEY["project_name"], None, "x") is None
    assert coerce(FIELD_BY_KEY["stop_timeout"], "2.5", "x", text=True) == 2.5
    assert coerce(FIELD_BY_KEY["cleanup_after_tests"], " On ", "x", text=True) is True
    assert coerce(FIELD_BY_KEY["cleanup_after_tests"], "", "x", text=True) is False
    assert coerce(FIELD_BY_KEY["log_section_lines"], "7", "x", text=True) == 7
    assert coerce(FIELD_BY_KEY["compose_files"], "a.yml:b.yml", "x", text=True) == ("a.yml", "b.yml")
    assert coerce(FIELD_BY_KEY["compose_files"], ["a.yml"], "x") == ("a.yml",)
