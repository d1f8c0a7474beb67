"""Notes in one JSON file (the development stack keeps it in a volume)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

_lock = threading.Lock()


def _path() -> Path:
    return Path(os.environ.get("NOTES_DATA", "notes.json"))


def load() -> dict[str, dict]:
    path = _path()
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def save(notes: dict[str, dict]) -> None:
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(notes, indent=2))
    tmp.replace(path)


def add(title: str, body: str, tags: list[str]) -> dict:
    with _lock:
        notes = load()
        note_id = str(max((int(k) for k in notes), default=0) + 1)
        note = {"id": note_id, "title": title, "body": body, "tags": sorted(set(tags))}
        notes[note_id] = note
        save(notes)
    return note


def search(tag: str) -> list[dict]:
    return [n for n in load().values() if tag in n["tags"]]


def purge() -> int:
    with _lock:
        count = len(load())
        save({})
    return count
