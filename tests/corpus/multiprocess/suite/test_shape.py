import httpx

from stacktest.plugin import StackHandle


def test_the_service_starts_a_second_python_process(stack: StackHandle) -> None:
    body = httpx.get(f"{stack.url('web')}/spawn", timeout=30, trust_env=False).json()
    assert body == {"result": "worked"}
