import httpx

from stacktest.plugin import StackHandle


def test_two_replicas_each_with_its_own_port_and_process(stack: StackHandle) -> None:
    urls = stack.replica_urls("web")
    assert len(urls) == 2 and urls[0] != urls[1]
    hosts = {httpx.get(f"{u}/started", trust_env=False).json()["host"] for u in urls}
    assert len(hosts) == 2
