"""The process ledger's decisions: which processes count as measured, what is lost, what is accepted,
how a lost process ended, and which Python asks a container's processes to save."""

from __future__ import annotations

import json
from pathlib import Path

from stacktest.coverage import ledger as _ledger


def entry(folder: Path, host: str, pid: int, saves: int, argv: list[str] | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "host": host,
        "pid": pid,
        "ppid": 1,
        "argv": argv or ["/venv/bin/python", "-m", "app"],
        "exe": "/venv/bin/python",
        "start": 100 + pid,
        "started_at": 1000.0 + pid,
        "saves": saves,
        "save_signal": 61,
    }
    (folder / f".proc-{host}-{pid}-abcd1234").write_text(json.dumps(record))


def test_a_process_with_no_save_is_lost_and_named(tmp_path: Path) -> None:
    entry(tmp_path / "web", "c1", 1, 2)
    entry(tmp_path / "web", "c1", 7, 0, ["/venv/bin/python", "-c", "from multiprocessing.spawn import x"])
    entry(tmp_path / "web", "c2", 1, 1)
    entry(tmp_path / "worker", "c3", 1, 1)
    (tmp_path / "web" / ".tmp.proc-c1-9-ffff").write_text("{half")  # a spy died while writing: no entry
    (tmp_path / "web" / ".proc-c1-8-eeee").write_text("not json")
    ledger = _ledger.Ledger.from_folders(
        {"web": tmp_path / "web", "worker": tmp_path / "worker"}, {"c1": "web", "c2": "web-2"}
    )
    assert ledger.counts() == {"web": (2, 3), "worker": (1, 1)}
    [lost] = ledger.lost()
    assert (lost.container, lost.pid, lost.measured) == ("web", 7, False)
    assert "spawn_main" not in lost.command and "multiprocessing.spawn" in lost.command
    assert ledger.unaccepted() == [lost]
    assert ledger.as_json()["services"] == {
        "web": {"measured": 2, "ran": 3},
        "worker": {"measured": 1, "ran": 1},
    }
    assert [p.container for p in ledger.processes if p.service == "worker"] == ["c3"]  # no label known


def test_accepted_losses_are_said_not_failed(tmp_path: Path) -> None:
    entry(tmp_path / "web", "c1", 5, 0)
    ledger = _ledger.Ledger.from_folders({"web": tmp_path / "web"}, accepted=["web"])
    assert len(ledger.lost()) == 1 and ledger.unaccepted() == []
    assert ledger.as_json()["accepted"] == ["web"]
    explained = ledger.explained({("c1", 5): "its container said: killed"})
    assert explained.lost()[0].how == "its container said: killed" and explained.accepted == {"web"}


def test_how_a_process_ended_is_read_from_lines_that_name_it() -> None:
    log = (
        "[INFO] Booting worker with pid: 12\n"
        "[CRITICAL] WORKER TIMEOUT (pid:12)\n"
        "[ERROR] Worker (pid:12) was sent SIGKILL! Perhaps out of memory?\n"
        "Process 'ForkPoolWorker-1' pid:9 exited with 'signal 9 (SIGKILL)'\n"
        "listening on port 8000, 120 connections\n"
    )
    assert _ledger.ended_how(log, 12) == "[ERROR] Worker (pid:12) was sent SIGKILL! Perhaps out of memory?"
    assert "ForkPoolWorker-1" in _ledger.ended_how(log, 9)
    assert _ledger.ended_how(log, 1) == ""  # "pid:12" does not name pid 1
    assert _ledger.ended_how(log, 120) == ""  # a number that is no pid mention


def test_the_python_that_asks_is_the_one_the_container_runs() -> None:
    entries = [
        {"host": "a", "exe": "/venv/bin/python"},
        {"host": "a", "exe": "/venv/bin/python"},
        {"host": "a", "exe": "/usr/bin/python3"},
        {"host": "b", "exe": "/usr/local/bin/python3"},
        {"host": "c", "exe": ""},
    ]
    assert _ledger.save_python(entries, "a") == "/venv/bin/python"
    assert _ledger.save_python(entries, "b") == "/usr/local/bin/python3"
    assert _ledger.save_python(entries, "c") == ""  # nothing to ask with
    assert _ledger.save_python(entries, "d") == ""
