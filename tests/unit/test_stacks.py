"""Pure parts of a stack's lifecycle: the labels overlay, the images it names, which stacks are stale."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from stacktest.adapters.engine_model import LABEL_CHECKOUT, LABEL_HOST, LABEL_ROOT, LABEL_RUN, StackInfo
from stacktest.settings import load_settings
from stacktest.stack import overlay
from stacktest.stack import reap as reaping
from stacktest.stack.owner import Owner

pytestmark = pytest.mark.unit

LABELS = {LABEL_RUN: "p1", LABEL_ROOT: "/src/app", LABEL_CHECKOUT: "abc", LABEL_HOST: "h"}
CONFIG = {
    "services": {
        "web": {"build": {"context": "."}},
        "db": {"image": "postgres"},
        "api": {"build": ".", "image": "mine"},
    },
    "networks": {"outside": {"external": True}, "back": {}},
    "volumes": {"data": {}, "shared": {"external": True}},
}


def test_the_overlay_labels_everything_but_what_is_external() -> None:
    out = overlay.labelled_config(CONFIG, LABELS, "pre-abc")
    assert all(out["services"][s]["labels"] == LABELS for s in ("web", "db", "api"))
    assert set(out["networks"]) == {"default", "back"} and set(out["volumes"]) == {"data"}


def test_built_images_get_one_stable_name_and_their_checkout() -> None:
    out = overlay.labelled_config(CONFIG, LABELS, "pre-abc")
    assert out["services"]["web"]["image"] == "pre-abc-web"  # compose would say <project>-web, per run
    assert "image" not in out["services"]["api"]  # its own name stays
    assert "build" not in out["services"]["db"]
    assert out["services"]["api"]["build"]["labels"] == {
        k: LABELS[k] for k in (LABEL_ROOT, LABEL_CHECKOUT, LABEL_HOST)
    }
    assert overlay.built_images(CONFIG, "pre-abc") == ["mine", "pre-abc-web"]


class Engine:
    def __init__(self, infos: list[StackInfo]) -> None:
        self.infos = infos

    def stacks(self) -> list[StackInfo]:
        return self.infos


ME = Owner.me()
DEAD = 2**22 + 12345  # no such process


def info(
    project: str,
    owner: Owner,
    *,
    kept: bool = False,
    age_h: float = 0.0,
    now: float = 1e6,
    root: Path = Path("/r"),
    token: str = "t0k",  # noqa: S107 - a made-up run token
) -> StackInfo:
    return StackInfo(
        project, project, "c", str(root), owner.pid, owner.host, now - age_h * 3600, 3, kept,
        owner=owner.label(), token=token,
    )  # fmt: skip


def test_stale_stacks(tmp_path: Path) -> None:
    """Dead only when this machine's kernel says so (same host, boot and PID namespace; the pid gone or
    running another process) and the run's state file holds the token its labels hold; else only age."""
    settings = load_settings(cwd=tmp_path, environ={})
    gone = Owner(ME.host, ME.boot, ME.pidns, DEAD, "123")
    stacks = [
        info("alive", ME),
        info("orphan", gone),
        info("kept-orphan", gone, kept=True),  # `stacktest up` outlives its command on purpose
        info("elsewhere", Owner("another-machine", ME.boot, ME.pidns, DEAD, "1")),
        info("other-pid-namespace", Owner(ME.host, ME.boot, "pid:[1]", DEAD, "1")),  # a CI job's container
        info("pid-reused", Owner(ME.host, ME.boot, ME.pidns, ME.pid, "1")),  # my pid, another start
        info("forged-token", gone, token="guessed"),
        info("old", ME, age_h=settings.reap_age + 1),
    ]
    for s in stacks:
        settings.state.stack_file(s.project).parent.mkdir(parents=True, exist_ok=True)
        settings.state.stack_file(s.project).write_text('{"token": "t0k"}')
    stacks = [dataclasses.replace(s, root=str(settings.root)) for s in stacks]
    stale = {i.project: why for i, why in reaping.stale_stacks(Engine(stacks), settings, now=1e6)}  # type: ignore[arg-type]
    assert set(stale) == {"orphan", "pid-reused", "old"}
    assert (
        "is gone" in stale["orphan"] and "another process" in stale["pid-reused"] and "h old" in stale["old"]
    )
    assert Owner.parse(ME.label()) == ME and Owner.parse("a/b") is None


def test_start_order_puts_each_service_after_what_it_depends_on() -> None:
    from stacktest.stack.records import start_order

    config = {
        "services": {
            "api": {"depends_on": {"auth": {"condition": "service_healthy"}}},  # compose v2's long form
            "auth": {"depends_on": ["redis"]},  # v1's list
            "redis": {},
            "worker": {"depends_on": {"ghost": {}}},  # a name not in the file is passed over
            "a": {"depends_on": ["b"]},
            "b": {"depends_on": ["a"]},  # a cycle ends, each once
        }
    }
    order = start_order(config)
    assert order.index("redis") < order.index("auth") < order.index("api")
    assert sorted(order) == sorted(config["services"])
    assert start_order({}) == [] and start_order({"services": None}) == []


def test_a_waited_on_healthcheck_runs_every_half_second_and_unhealthy_keeps_its_time() -> None:
    config = {
        "services": {
            "db": {"healthcheck": {"test": ["CMD", "pg_isready"], "interval": "1m30s", "retries": 2}},
            "cache": {"healthcheck": {"test": ["CMD", "redis-cli", "ping"]}},  # engine defaults: 30s, 3
            "quick": {"healthcheck": {"test": ["CMD", "true"], "interval": "500ms"}},  # fast already
            "image-check": {},  # the image's own HEALTHCHECK: its interval is unknown here
            "lone": {"healthcheck": {"test": ["CMD", "true"], "interval": "30s"}},  # nobody waits on it
            "web": {
                "depends_on": {
                    "db": {"condition": "service_healthy"},
                    "cache": {"condition": "service_healthy"},
                    "quick": {"condition": "service_healthy"},
                    "image-check": {"condition": "service_healthy"},
                    "lone": {"condition": "service_started"},
                }
            },
        }
    }
    fast = overlay.fast_healthchecks(config)
    assert fast == {
        "db": {"healthcheck": {"interval": "0.5s", "retries": 360}},  # 2 x 90 s = 180 s, as before
        "cache": {"healthcheck": {"interval": "0.5s", "retries": 180}},
    }
    labelled = overlay.labelled_config(config, LABELS, "p")
    assert labelled["services"]["db"]["healthcheck"] == fast["db"]["healthcheck"]
    assert "healthcheck" not in labelled["services"]["lone"]
