import httpx

from stacktest.plugin import StackHandle


def test_the_image_sitecustomize_still_runs(stack: StackHandle) -> None:
    body = httpx.get(f"{stack.url('web')}/env/SITE_MARK", trust_env=False).json()
    assert body == {"value": "set by the image's sitecustomize"}
