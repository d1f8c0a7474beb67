"""Pure parts of a stack's lifecycle: the labels overlay, the images it names, which stacks are stale."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from stacktest.adapters.engine_model import LABEL_CHECKOUT, LABEL_HOST, LABEL_ROOT, LABEL_RUN, StackInfo
from stacktest.settings import load_settings
from stacktest.stack import overlay
from stacktest.stack import reap as reaping

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


def info(
    project: str, pid: int, *, host: str = "", kept: bool = False, age_h: float = 0.0, now: float = 1e6
) -> StackInfo:
    return StackInfo(
        project, project, "c", "/r", pid, host or socket.gethostname(), now - age_h * 3600, 3, kept
    )


def test_stale_stacks(tmp_path: Path) -> None:
    settings = load_settings(cwd=tmp_path, environ={})
    dead = 2**22 + 12345  # no such process
    engine = Engine(
        [
            info("alive", os.getpid()),
            info("orphan", dead),
            info("kept-orphan", dead, kept=True),  # `stacktest up` outlives its command on purpose
            info("elsewhere", dead, host="another-machine"),  # its pid means nothing here
            info("old", os.getpid(), age_h=settings.reap_age + 1),
        ]
    )
    stale = {i.project: why for i, why in reaping.stale_stacks(engine, settings, now=1e6)}  # type: ignore[arg-type]
    assert set(stale) == {"orphan", "old"}
    assert "is gone" in stale["orphan"] and "h old" in stale["old"]


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
