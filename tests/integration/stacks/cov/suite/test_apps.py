import os

import pytest


def test_pid1_branches(service_client):
    client = service_client("pid1")
    assert client.get("/n/5").text == "positive"
    assert client.get("/n/-5").text == "negative"


def test_forking_child(service_client):
    assert service_client("forking").get("/work").text.startswith("child ")


@pytest.mark.skipif(not os.environ.get("KILL_VICTIM"), reason="only when the test asks for it")
def test_kill_victim(stack):
    import docker

    client = docker.from_env()
    [container] = client.containers.list(
        filters={
            "label": [f"com.docker.compose.project={stack.project}", "com.docker.compose.service=victim"]
        }
    )
    container.kill(signal="SIGKILL")
