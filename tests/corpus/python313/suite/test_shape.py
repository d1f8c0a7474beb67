import httpx

from stacktest.plugin import StackHandle


def test_the_service_runs_python_3_13(stack: StackHandle) -> None:
    assert httpx.get(f"{stack.url('web')}/python", trust_env=False).json() == {"version": [3, 13]}


def test_coverage_measures_with_sys_monitoring_on_3_13(stack: StackHandle) -> None:
    """The corpus runs this suite under `stacktest coverage run` only: the spy chose sys.monitoring."""
    core = httpx.get(f"{stack.url('web')}/coverage-core", trust_env=False).json()["core"]
    assert core == "SysMonitor"
