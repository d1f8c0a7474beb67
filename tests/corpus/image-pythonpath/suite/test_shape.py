import httpx

from stacktest.plugin import StackHandle


def test_the_image_pythonpath_is_kept(stack: StackHandle) -> None:
    value = httpx.get(f"{stack.url('web')}/env/PYTHONPATH", trust_env=False).json()["value"]
    assert value.split(":")[-1] == "/opt/lib"
