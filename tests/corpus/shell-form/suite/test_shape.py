import httpx

from stacktest.plugin import StackHandle


def test_python_is_not_pid_1(stack: StackHandle) -> None:
    assert httpx.get(f"{stack.url('web')}/started", trust_env=False).json()["pid"] != 1
