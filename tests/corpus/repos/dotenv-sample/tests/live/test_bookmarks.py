import uuid

import httpx
import pytest


@pytest.fixture
def api(stack):
    with httpx.Client(base_url=stack.url("web"), timeout=10) as client:
        yield client


def test_a_bookmark_is_listed_after_it_is_saved(api):
    url = f"https://example.com/{uuid.uuid4().hex}"
    created = api.post("/api/bookmarks/", json={"url": url, "title": "Example"})
    assert created.status_code == 201, created.text
    listed = api.get("/api/bookmarks/").json()["results"]
    assert created.json() in listed


def test_an_invalid_url_is_refused(api):
    response = api.post("/api/bookmarks/", json={"url": "not a url"})
    assert response.status_code == 400


def test_a_shared_link_opens_the_bookmark(api):
    bookmark = api.post("/api/bookmarks/", json={"url": "https://example.org/shared"}).json()
    token = api.post(f"/api/bookmarks/{bookmark['id']}/share/").json()["token"]
    assert api.get(f"/api/shared/{token}/").json() == bookmark


def test_a_tampered_link_is_404(api):
    bookmark = api.post("/api/bookmarks/", json={"url": "https://example.org/tampered"}).json()
    token = api.post(f"/api/bookmarks/{bookmark['id']}/share/").json()["token"]
    payload, _, signature = token.rpartition(":")
    forged = payload + ":" + ("A" if signature[0] != "A" else "B") * len(signature)
    assert api.get(f"/api/shared/{forged}/").status_code == 404
