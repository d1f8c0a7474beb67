"""`just bench`: every benchmark in turn, then docs/benchmarks.md from benchmarks/results.json."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from _common import REPO, RESULTS, machine

SCRIPTS = [
    ["edit_loop.py"],
    ["readiness.py"],
    ["readiness.py", "--interval", "30s", "--trials", "2"],
    ["readiness_healthcheck.py"],
    ["healthcheck_chain.py"],
    ["readiness_sql.py"],
    ["stop.py"],
    ["reaper.py"],
    ["throughput.py"],
    ["combine.py"],
    ["parallel.py"],
    ["end_to_end.py"],
    ["scaling.py"],  # also writes docs/scaling.md
    ["contexts.py"],
    ["affected.py"],
]


def main() -> int:
    failed = []
    for script in SCRIPTS:
        print(f"== {' '.join(script)}", flush=True)
        result = subprocess.run(
            [sys.executable, str(REPO / "benchmarks" / script[0]), *script[1:]], check=False
        )
        if result.returncode != 0:
            failed.append(script[0])
    write_doc()
    if failed:
        print(f"benchmarks that did not finish: {', '.join(failed)}")
    return 1 if failed else 0


def parallel_limits(data: dict[str, Any]) -> list[str]:
    """What the last parallel run measured about its own limits, in words, from its figures."""
    cpu, waiting = (
        data.get("parallel", {}).get("figures", {}),
        data.get("parallel-waiting", {}).get("figures"),
    )
    if "ceiling" not in cpu or not waiting:
        return []
    busy, fixed, seconds = cpu["cores_busy"], cpu["fixed_cost_s"], cpu["seconds"]
    return [
        "The benchmark also measures the CPU each run keeps busy: the stack's containers (the engine's",
        "accounting) and stacktest, pytest and its workers. Its last run"
        f" ({data['parallel']['measured']}), with default settings (the worker count chosen from the last",
        "run of the same tests, docs/workers.md):",
        "",
        f"- the serial run keeps {busy['serial']} cores busy, client and services together, so on this",
        f"  machine no parallel run of this suite can beat {cpu['ceiling']}x, even with no fixed cost at",
        f"  all; xdist's fixed cost (an empty selection) is {fixed['test-fast']} s for `test-fast` against",
        f"  {seconds['serial']} s for the whole suite run serially; `test-fast` ends at"
        f" {data['parallel']['ratio']}x serial;",
        f"- with each test also waiting {waiting['wait_ms']} ms on Redis (BLPOP with a timeout: a suite",
        "  that waits on the network), the serial run keeps"
        f" {waiting['cores_busy']['serial']} cores busy; `test-fast` is {waiting['speedup']['test-fast']}x"
        " serial.",
        "",
    ]


def write_doc() -> None:
    data = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    lines = [
        "# Benchmarks",
        "",
        "Each benchmark measures stacktest and its baseline side by side in one run and reports a ratio;",
        "absolute times on these shared machines are noisy and are given only as context.",
        f"`just bench` runs them all and rewrites this page. Machine: {machine()}.",
        "",
        "| benchmark | ratio | goal | met | figures | measured | command |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in sorted(data.items()):
        figures = ", ".join(f"{k}={v}" for k, v in r["figures"].items())
        lines.append(
            f"| {name} | {r['ratio']} | {r['goal']} | {'yes' if r['met'] else '**no**'} | {figures} "
            f"| {r['measured']} | `{r['command']}` |"
        )
    lines += [
        "",
        "What each ratio means:",
        "",
        "- edit-loop: `stacktest test -k ... tests/stack/test_errors.py` / plain `pytest` with the same"
        " selection, on a running stack (lower is better). Both check the stack: pytest through the state"
        " file and the engine, stacktest by asking each service's probe at the URL it last had.",
        "- readiness: compose's delay / stacktest's delay after the stack first answered (higher is better);"
        " the figures also give a hand-written loop that asks every service every 0.1 s (what"
        " pytest-docker's `wait_until_responsive(pause=0.1)` users write).",
        "- readiness-healthcheck-only: the same, for a service with only a compose healthcheck (30 s"
        " interval, no probe), measured from the moment its healthcheck command first succeeded.",
        "- healthcheck-chain: `docker compose up --wait` / stacktest, time until the tests can start on a"
        " `depends_on: service_healthy` chain whose healthcheck has a 30 s interval (higher is better); the"
        " figures give how long after the dependency could answer it was found healthy and the dependent"
        " service started.",
        "- readiness-sql: how much further from the moment a fresh PostgreSQL first answers a query a `tcp`"
        " probe says ready (before it: the engine's proxy accepts connections at once) than the `sql` probe"
        " (connect and SELECT 1); the figures give both, in ms (negative: before).",
        "- stop: stock `sigterm = true` stop time / the spy's stop time (higher is better).",
        "- reaper: 10 s (the bound) / the slowest trial's seconds from SIGKILL of a run's whole process tree",
        "  to nothing of its stack left, with no later command (higher is better; >= 1 meets it).",
        "- tracer-overhead: covered / uncovered requests per second of `api` on CPython 3.11 (C tracer);"
        " tracer-overhead-python3.13: the same on 3.13, where the spy measures with sys.monitoring"
        " (`ctrace_ratio`: the C tracer forced, for comparison).",
        "- combine: harvest + combine / a bare `coverage combine` of the same files (lower is better).",
        "- parallel: serial wall time / `test-fast` wall time on a generated suite of ~300 live tests"
        " (higher is better); the figures give every mode and each mode's fixed cost (an empty selection).",
        "- end-to-end: `stacktest coverage run` / bare `compose up --wait; pytest; compose down`"
        " (lower is better).",
        "- contexts: the share of (test, service line) pairs that a run on four xdist workers and a run in"
        " one process both recorded (higher is better, 1.0 is the same map); the figures give precision"
        " and recall of the parallel map against the serial one, and the cost of contexts: test throughput"
        " on four workers with / without them, and combined data size with / without.",
        "- affected: the median share of the live suite that `stacktest test --affected` runs for one"
        " mutant seeded in each function of the bundled services that a test reaches (lower is better);"
        " every mutant must be caught (a test fails, or the service never gets ready).",
        "- scaling: the worst harvest + combine / bare `coverage combine` ratio from 1,000 to 20,000 files;"
        " its curves (readiness against 1-30 services, harvest against 1-30 replicas) and extrapolations"
        " are in [scaling.md](scaling.md).",
        "",
        "## Readiness and `start_interval`",
        "",
        "`docker compose up --wait` waits for the engine's healthchecks, so it is bound to their interval",
        "(5 s in the bundled stack, 30 s in the second line). Docker Engine 25 and later accept",
        "`healthcheck.start_interval`, a shorter interval during `start_period`, which narrows that gap;",
        "the engine on this machine is 20.10 and ignores it, so the compose figures here are what users of",
        "older engines see. stacktest does not depend on it: it probes from the host, or runs the",
        "healthcheck's own command itself, every few milliseconds. The fair comparison is therefore the",
        "hand-written polling loop in the readiness figures, the best a user would write by hand.",
        "",
        "## What limits the parallel figure",
        "",
        "The parallel benchmark runs a generated suite of 306 live tests (benchmarks/live_suite: each",
        "registers a client, runs the PKCE code flow, makes a JSON-RPC call that the api checks with auth,",
        "and writes to Redis; 6 of them serial). Measuring it on 2026-11-26 found the real cost of such",
        "suites: each",
        "`httpx.Client` built its own TLS context, loading the CA bundle, ~34 ms of CPU, and the suite's",
        "client side was 22 s of CPU in a 25 s run. stacktest's clients now share one context per process:",
        "the serial run went from 26.7 s to 7.6 s, more than any worker count gave before (test-fast was",
        "1.42x serial then). What was left was ~20 ms of work per test, and against it xdist's fixed",
        "cost: an",
        "empty selection takes 1.3 s with plain pytest and 2.9 s with `-n 2` (two more interpreters",
        "importing pytest, its plugins and the suite), plus the serial phase (in the stacktest process,",
        "about 0.9 s with its collection). On two cores the parallel phase divides the work by about 1.25",
        "(clients and the three services share the cores). So `test-fast` pays off from a few thousand",
        "such tests, or for tests that wait on something other than this machine's CPU; the serial phase",
        "stays separate, since it is what keeps `serial` tests off the workers. (On 2026-12-02 the same",
        "code ran the serial suite in about 15 s: that machine's Python was slower, collection alone",
        "1.5-1.8 s against 1.3 s; the ratios below are from one run on it.)",
        "",
        *parallel_limits(data),
    ]
    (REPO / "docs" / "benchmarks.md").write_text("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
