"""The reaper's container looked up while the engine removes it: Podman answers 500 ("does not exist in
database") for a container its auto-remove is taking away; that is "not running", to be started again,
not an engine that is down."""

from __future__ import annotations

from typing import Any

import docker.errors
import pytest

from stacktest.adapters.engine import Engine


class _Api:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def inspect_container(self, name: str) -> dict[str, Any]:
        raise self.error


class _Client:
    def __init__(self, error: Exception) -> None:
        self.api = _Api(error)


@pytest.mark.parametrize(
    "error",
    [
        docker.errors.NotFound("no such container"),
        docker.errors.APIError(
            "500 Server Error: container abc does not exist in database: no such container"
        ),
    ],
)
def test_a_reaper_being_removed_is_not_running(error: Exception) -> None:
    engine = Engine(_Client(error))
    assert engine.published_port("stacktest-reaper-x", 8080) is None
