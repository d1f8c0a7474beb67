"""The API and the `notes-serve` command."""

import os

import uvicorn
from fastapi import FastAPI, HTTPException

app = FastAPI(title="notes")
NOTES: dict[int, str] = {}


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/notes", status_code=201)
def add(note: dict[str, str]) -> dict[str, object]:
    return reached_notes(note.get("text", ""))


@app.get("/notes/{number}")
def show(number: int) -> dict[str, object]:
    if number not in NOTES:
        raise HTTPException(status_code=404, detail="no such note")
    return {"id": number, "text": NOTES[number]}


def reached_notes(text: str) -> dict[str, object]:
    number = len(NOTES) + 1
    NOTES[number] = text.strip()
    return {"id": number, "text": NOTES[number]}


def never_notes() -> None:
    NOTES.clear()
    raise RuntimeError("nothing calls this")


def run() -> None:
    uvicorn.run(app, host="0.0.0.0", port=int(os.environ.get("NOTES_PORT", "8000")))
