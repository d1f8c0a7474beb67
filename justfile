# stacktest's recipes: the one entry point, for people and for .ci/run alike.
# Every recipe passes extra arguments through with their quoting intact.
set positional-arguments

python := env_var_or_default("PYTHON", "python3")
# quoted: PYTHON names one program, never shell text
py := quote(python)
st := py + " -m stacktest"

# list the recipes
default:
    @just --list --unsorted

# install stacktest, its dev tools, mmdebstrap and Compose v2 when missing
setup:
    scripts/setup

# --- the stack ----------------------------------------------------------------------------------------
# start this checkout's stack and wait until it is ready
up *args:
    {{st}} up "$@"

# remove this checkout's stack (containers, networks, volumes)
down *args:
    {{st}} down "$@"

# each service's state, health and URL
status *args:
    {{st}} status "$@"

# service logs: just logs -f auth
logs *args:
    {{st}} logs "$@"

# wait until every service of the running stack is ready
ensure-services-ready *args:
    {{st}} wait "$@"

# show stacks left behind by crashed runs; --yes removes them
reap *args:
    {{st}} reap "$@"

# --- tests against the live stack (the seed's contract) ----------------------------------------------
# run pytest against the live stack: just test -k "oauth and not slow" -v
test *args:
    {{st}} test "$@"

# every core, then the serial tests in one process
test-parallel *args:
    {{st}} test --mode parallel "$@"

# COUNT workers, then the serial tests
test-n COUNT *args:
    {{st}} test --mode n --workers "$@"

# work stealing, then the serial tests
test-fast *args:
    {{st}} test --mode fast "$@"

# one file per worker, then the serial tests
test-by-module *args:
    {{st}} test --mode by-module "$@"

# one class per worker, then the serial tests
test-by-class *args:
    {{st}} test --mode by-class "$@"

# only the tests marked serial
test-serial *args:
    {{st}} test --mode serial "$@"

# every core, skipping the serial tests
test-parallel-safe *args:
    {{st}} test --mode parallel-safe "$@"

# coverage measured inside the containers: up, test, stop, harvest, combine, report, down
test-sidecar-coverage *args:
    {{st}} coverage run "$@"

# show the test data ("TEST " names) left in the services
test-cleanup-show *args:
    {{st}} cleanup "$@"

# remove the test data left in the services
test-cleanup *args:
    {{st}} cleanup --yes "$@"

# explain why a run failed: engine, compose, services, ports, coverage, failing tests
diagnose-tests *args:
    {{st}} diagnose "$@"

# --- working on stacktest -----------------------------------------------------------------------------
# ruff
lint:
    {{py}} -m ruff check src tests benchmarks compose/services

# mypy --strict
typecheck:
    {{py}} -m mypy

# unit tests only (no engine needed)
unit *args:
    {{py}} -m pytest tests/unit "$@"

# on every edit: lint, types, unit and plugin tests; no engine needed (about 20 s)
check-fast *args:
    just lint
    just typecheck
    {{py}} -m pytest tests/unit tests/plugin -p no:cacheprovider -n 2 -q "$@"

# the whole suite: lint, types, unit, plugin, integration and end-to-end tests on the real engine, the
# engine tests in parallel (each stack is a compose project of its own); the 15 slowest tests at the end
check *args:
    just lint
    just typecheck
    {{py}} -m pytest tests --ignore=tests/stack -p no:cacheprovider -n 4 --dist loadgroup --durations=15 "$@"

# every benchmark, each printing its ratios; the table goes to docs/benchmarks.md
bench:
    {{py}} benchmarks/run_all.py
