import httpx

from stacktest.plugin import StackHandle


def test_a_helper_process_dies_by_sigkill(stack: StackHandle) -> None:
    body = httpx.get(f"{stack.url('web')}/lose-a-helper", timeout=30, trust_env=False).json()
    assert body == {"returncode": -9}
