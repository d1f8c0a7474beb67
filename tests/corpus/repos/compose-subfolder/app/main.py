import logging
import os

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from app import storage

logging.basicConfig(level=os.environ.get("LOG_LEVEL", "info").upper())
app = FastAPI(title="notes")


class NewNote(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    body: str = ""
    tags: list[str] = []


@app.get("/health")
def health():
    return {"status": "ok"}


@app.post("/notes", status_code=201)
def create_note(note: NewNote):
    return storage.add(note.title.strip(), note.body, [t.lower() for t in note.tags])


@app.get("/notes/{note_id}")
def read_note(note_id: str):
    note = storage.load().get(note_id)
    if note is None:
        raise HTTPException(404, "no such note")
    return note


@app.get("/tags/{tag}")
def notes_tagged(tag: str):
    return storage.search(tag.lower())


@app.delete("/notes")
def delete_all_notes():
    # a maintenance endpoint for the development stack; no client calls it
    return {"deleted": storage.purge()}
