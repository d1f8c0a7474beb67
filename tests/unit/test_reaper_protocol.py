"""The reaper's protocol (stack/reaper_service.py) without an engine: a connection is a lease; DONE and
KEEP end it in order, anything else (the run's kernel closing the socket) makes its token due for
removal; an idle reaper ends. The removal itself is faked at the function that calls the engine."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from stacktest.adapters.engine_model import LABEL_TOKEN
from stacktest.cli.options import duration
from stacktest.errors import UsageError
from stacktest.stack import reaper_service

TOKEN = "a" * 32


@pytest.fixture
def removed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []

    def remove(token: str) -> tuple[int, int, int]:
        calls.append(token)
        return 0, 0, 0

    monkeypatch.setattr(reaper_service, "remove", remove)
    return calls


@pytest.fixture
def reaper() -> reaper_service.Reaper:
    return reaper_service.Reaper(grace=0.0, idle=60.0)


def session(reaper: reaper_service.Reaper, *lines: str, close: bool = True) -> list[str]:
    """Say ``lines`` on one connection; the answers. The connection ends (as a kill would end it)."""
    ours, theirs = socket.socketpair()
    served = threading.Thread(target=reaper.serve, args=(theirs,))
    served.start()
    answers = []
    with ours, ours.makefile("r") as replies:
        for line in lines:
            ours.sendall(line.encode() + b"\n")
            answers.append(replies.readline().strip())
        if close:
            ours.shutdown(socket.SHUT_RDWR)
    served.join(timeout=5)
    return answers


def test_the_label_and_the_engine_agree() -> None:
    assert reaper_service.TOKEN_LABEL == LABEL_TOKEN


def test_a_lease_that_ends_without_done_is_removed(reaper: reaper_service.Reaper, removed: list[str]) -> None:
    assert session(reaper, f"LEASE {TOKEN}") == ["ACK"]
    assert reaper.sweep() and removed == [TOKEN]


def test_done_and_keep_zero_remove_nothing(reaper: reaper_service.Reaper, removed: list[str]) -> None:
    assert session(reaper, f"LEASE {TOKEN}", "DONE") == ["ACK", "ACK"]
    assert session(reaper, f"LEASE {'b' * 32}", "KEEP 0") == ["ACK", "ACK"]
    reaper.sweep()
    assert removed == [] and reaper.due == {}


def test_keep_with_a_lifetime_removes_after_it(reaper: reaper_service.Reaper, removed: list[str]) -> None:
    assert session(reaper, f"LEASE {TOKEN}", "KEEP 0.3") == ["ACK", "ACK"]
    reaper.sweep()
    assert removed == []
    time.sleep(0.35)
    reaper.sweep()
    assert removed == [TOKEN]


def test_bad_lines_are_refused_and_leave_no_lease(reaper: reaper_service.Reaper, removed: list[str]) -> None:
    assert session(
        reaper, "LEASE short", "LEASE bad/token/with/slashes/0123456789", "KEEP soon", "HELLO"
    ) == [
        "ERR unknown",
        "ERR unknown",
        "ERR KEEP needs seconds",
        "ERR unknown",
    ]
    reaper.sweep()
    assert removed == []


def test_a_sweep_that_found_something_looks_once_more(
    reaper: reaper_service.Reaper, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def remove(token: str) -> tuple[int, int, int]:
        calls.append(token)
        return 1, 1, 1

    monkeypatch.setattr(reaper_service, "remove", remove)
    monkeypatch.setattr(reaper_service, "AGAIN", 0.0)
    session(reaper, f"LEASE {TOKEN}")
    reaper.sweep()
    reaper.sweep()
    reaper.sweep()
    assert calls == [TOKEN, TOKEN]


def test_an_idle_reaper_ends(removed: list[str]) -> None:
    idle = reaper_service.Reaper(grace=0.0, idle=0.2)
    assert idle.sweep()
    time.sleep(0.25)
    assert not idle.sweep()
    session(idle, f"LEASE {TOKEN}", "DONE")  # a run came and went: idle counts from its end
    assert idle.sweep()


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("30m", 1800), ("2h", 7200), ("1.5d", 129600)]
)
def test_durations(text: str, seconds: float) -> None:
    assert duration(text, "--ttl") == seconds


@pytest.mark.parametrize("text", ["soon", "-5", "0", "5x", ""])
def test_bad_durations_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="is not a duration"):
        duration(text, "--ttl")


def test_no_duration_is_none() -> None:
    assert duration(None, "--ttl") is None
