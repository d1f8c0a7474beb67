import httpx

from stacktest.plugin import StackHandle


def test_two_replicas_each_with_its_own_port_and_process(stack: StackHandle) -> None:
    urls = stack.replica_urls("web")
    assert len(urls) == 2 and urls[0] != urls[1]
    hosts = {httpx.get(f"{u}/started", trust_env=False).json()["host"] for u in urls}
    assert len(hosts) == 2


def test_coverage_keeps_the_c_tracer_on_3_11(stack: StackHandle) -> None:
    """Debian bookworm's CPython 3.11 has no sys.monitoring: the spy leaves coverage's C tracer."""
    for url in stack.replica_urls("web"):
        assert httpx.get(f"{url}/coverage-core", trust_env=False).json()["core"] == "CTracer"
