import httpx

from stacktest.plugin import StackHandle


def test_the_script_passed_the_environment_on(stack: StackHandle) -> None:
    body = httpx.get(f"{stack.url('web')}/env/GREETING", trust_env=False).json()
    assert body == {"value": "from-compose"}
