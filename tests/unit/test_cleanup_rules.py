"""The one rule of test data, and the refusal of an empty prefix."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacktest.cleanup.rules import check_prefix, is_test_name
from stacktest.errors import CleanupError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("TEST gw0 test_x client 1a2b3c", True),
        ("TEST ", True),
        ("TEST", False),
        ("test x", False),
        (" TEST x", False),
        ("TESTx", False),
        ("PROD TEST x", False),
        (None, False),
        (42, False),
    ],
)
def test_names(name: object, expected: bool) -> None:
    assert is_test_name(name, "TEST ") is expected


@pytest.mark.parametrize("prefix", ["", " ", "\t\n"])
def test_empty_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(CleanupError, match="empty"):
        check_prefix(prefix)
    with pytest.raises(CleanupError):
        is_test_name("anything", prefix)


def test_the_like_pattern_matches_only_the_prefix_itself() -> None:
    import re

    from stacktest.cleanup.sql import ESCAPE, like_prefix

    def like(pattern: str, text: str) -> bool:  # LIKE's meaning, with ESCAPE '/'
        regex, i = "", 0
        while i < len(pattern):
            c = pattern[i]
            if c == ESCAPE:
                regex += re.escape(pattern[i + 1])
                i += 2
                continue
            regex += ".*" if c == "%" else "." if c == "_" else re.escape(c)
            i += 1
        return re.fullmatch(regex, text, re.DOTALL) is not None

    for prefix in ("TEST ", "T%_/ ", "100%", "a_b"):
        pattern = like_prefix(prefix)
        for text in (
            prefix,
            prefix + "x",
            "x" + prefix,
            prefix[:-1],
            prefix.replace("%", "X").replace("_", "Y") + "z",
        ):
            assert like(pattern, text) == text.startswith(prefix), (prefix, text)


def test_sql_backends_and_probes_are_read_from_the_settings(tmp_path: Path) -> None:
    from stacktest.errors import ConfigError
    from stacktest.settings import RelatedRows, load_settings

    (tmp_path / "pyproject.toml").write_text(
        "[tool.stacktest.probes.db]\nsql = 'postgresql'\n"
        "[tool.stacktest.cleanup.backends.users]\nkind = 'sql'\nservice = 'db'\ndialect = 'postgresql'\n"
        "table = 'auth_user'\nname_column = 'username'\nid_column = 'id'\n"
        "related = [{ table = 'authtoken_token', column = 'user_id' }]\n"
    )
    s = load_settings(config=tmp_path / "pyproject.toml", environ={})
    assert (s.probes["db"].kind, s.probes["db"].port, s.probes["db"].dialect) == ("sql", 5432, "postgresql")
    [b] = s.cleanup_backends
    assert (b.table, b.name_field, b.id_field, b.port) == ("auth_user", "username", "id", 5432)
    assert b.related_rows == (RelatedRows("authtoken_token", "user_id"),)
    (tmp_path / "pyproject.toml").write_text(
        "[tool.stacktest.cleanup.backends.u]\nkind = 'sql'\ntable = 't'\n"
    )
    with pytest.raises(ConfigError, match="name_column"):
        load_settings(config=tmp_path / "pyproject.toml", environ={})


@pytest.mark.parametrize(
    ("base_url", "warned"),
    [("http://10.1.2.3:8000", True), ("http://127.0.0.1:8000", False), ("http://localhost:8000", False)],
)
def test_an_admin_token_sent_off_this_machine_over_plain_http_is_warned_of(
    base_url: str, warned: bool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from stacktest.cleanup.web import HttpBackend
    from stacktest.settings import CleanupBackend

    monkeypatch.setenv("ADMIN_TOKEN_T", "s3cret-token-value")
    config = CleanupBackend(
        "auth", "http", "auth", 8000, list_path="/admin/clients", list_auth_env="ADMIN_TOKEN_T"
    )
    backend = HttpBackend(config, base_url)
    with caplog.at_level("WARNING", logger="stacktest"):
        assert backend._list_headers() == {"Authorization": "Bearer s3cret-token-value"}
        backend._list_headers()
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == (1 if warned else 0), said
    assert all("ADMIN_TOKEN_T" in m and "10.1.2.3" in m and "s3cret" not in m for m in said)
