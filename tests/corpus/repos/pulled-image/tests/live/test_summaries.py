import httpx
import pytest

TEXT = "The cat sat on the mat. The cat ate the rat, and the rat ran to the cat."


@pytest.fixture
def web(stack):
    with httpx.Client(base_url=stack.url("web"), timeout=15) as client:
        yield client


@pytest.fixture
def worker(stack):
    with httpx.Client(base_url=stack.url("worker"), timeout=15) as client:
        yield client


def test_a_text_is_summarised_by_the_worker(web):
    response = web.post("/summaries", json={"text": TEXT})
    assert response.status_code == 200, response.text
    assert response.json() == {"words": 18, "distinct": 10, "keywords": ["cat", "rat", "sat"]}


def test_an_empty_text_is_refused(web):
    assert web.post("/summaries", json={"text": "  "}).status_code == 400


def test_the_worker_refuses_an_unknown_kind(worker):
    response = worker.post("/jobs", json={"kind": "translate", "payload": {}})
    assert response.status_code == 400
    assert response.json() == {"error": "unknown kind: translate"}


def test_an_unknown_job_is_404(worker):
    assert worker.get("/jobs/999999").status_code == 404
