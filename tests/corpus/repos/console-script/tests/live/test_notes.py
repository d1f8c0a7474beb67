"""The notes API as a client sees it, against the running stack."""

import httpx
import pytest


@pytest.fixture
def api(stack):
    with httpx.Client(base_url=stack.url("web"), timeout=10) as client:
        yield client


def test_a_note_is_kept(api):
    made = api.post("/notes", json={"text": "  buy milk "})
    assert made.status_code == 201
    assert api.get(f"/notes/{made.json()['id']}").json()["text"] == "buy milk"


def test_an_unknown_note_is_404(api):
    assert api.get("/notes/99999").status_code == 404
