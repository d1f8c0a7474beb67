import httpx

from stacktest.plugin import StackHandle


def test_the_service_runs_python_3_13(stack: StackHandle) -> None:
    assert httpx.get(f"{stack.url('web')}/python", trust_env=False).json() == {"version": [3, 13]}
