import httpx
import pytest

from stacktest.plugin import StackHandle


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GREETING", "from-dotenv"),  # .env interpolation
        ("FROM_ENV_FILE", "yes"),  # env_file
        ("FROM_SECOND_FILE", "yes"),  # a second compose file
        ("FROM_EXTENDS", "yes"),  # extends
        ("BUILD_NOTE", "from-build-args"),  # build args, multi-stage target
    ],
)
def test_compose_features_pass_through(stack: StackHandle, name: str, value: str) -> None:
    assert httpx.get(f"{stack.url('web')}/env/{name}", trust_env=False).json() == {"value": value}


def test_included_service_runs_and_profiled_one_does_not(stack: StackHandle) -> None:
    assert httpx.get(stack.url("aux"), trust_env=False).status_code == 200
    assert "debug" not in stack.urls
