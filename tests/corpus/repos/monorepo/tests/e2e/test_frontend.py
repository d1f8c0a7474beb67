import httpx
import pytest

pytestmark = pytest.mark.e2e


def test_the_shop_page_is_served(stack):
    page = httpx.get(stack.url("frontend") + "/", timeout=10)
    assert page.status_code == 200
    assert "<title>Acme Shop</title>" in page.text


def test_the_page_script_is_served(stack):
    script = httpx.get(stack.url("frontend") + "/app.js", timeout=10)
    assert script.status_code == 200
    assert "loadCatalogue" in script.text
