import httpx

from stacktest.plugin import StackHandle


def test_neither_service_runs_as_root(stack: StackHandle) -> None:
    assert httpx.get(f"{stack.url('web')}/whoami", trust_env=False).json() == {"uid": 1000}
    assert httpx.get(f"{stack.url('api')}/whoami", trust_env=False).json() == {"uid": 4242}
