"""Does `stacktest test --affected` catch a change, and how much of the suite does it run for it?

In a copy of the bundled project made a git repository of its own: one `stacktest coverage run --contexts`
records the test map. Then, for every function of the bundled services that a test reaches, one mutant
is seeded at a line of its body that the map says a test reached (drawn at random, fixed seed: not the
line fewest tests reach), and `stacktest test --affected` runs against the work tree (the changed service
rebuilt, only the tests the change reaches). The mutation, in order of what applies to that line: an `if`
or `while` condition negated, a comparison reversed, a returned value replaced by None, else the statement
replaced by `raise RuntimeError`. A mutant that --affected does not catch is run against the whole suite
too, to tell a selection that missed it from a mutant no test can see (an equivalent mutant: it counts
against the suite, not the selection, and is listed apart).

Prints a row per mutant (function, line, mutation, the tests --affected selects of the suite, how it was
caught) and the median share. A mutant that breaks a service's health check is caught before any test
runs (stacktest says the service never got ready); its share is still the tests selected.
Goal: every mutant that the whole suite catches is caught by --affected, at least 30 of them, and the
median share of the suite run <= 15 %.

    python benchmarks/affected.py [--seed 25] [--limit N]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from _common import bundled_copy, record

from stacktest.coverage import testmap
from stacktest.settings import load_settings
from stacktest.testrun import affected

SERVICES = [
    "compose/services/api/src/api_service/app.py",
    "compose/services/auth/src/auth_service/app.py",
    "compose/services/auth/src/auth_service/store.py",
]
UNSEEN = "no test sees it: the whole suite passes too"
SWAP = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.GtE,
    ast.GtE: ast.Lt,
    ast.Gt: ast.LtE,
    ast.LtE: ast.Gt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}


@dataclass
class Mutant:
    file: str
    function: str
    line: int
    kind: str
    source: str  # the whole mutated file


def stacktest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stacktest", *args],
        cwd=project,
        env=os.environ | {"STACKTEST_READY_TIMEOUT": "20", "NO_COLOR": "1"},  # a mutant may break /health
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )


def body_statements(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.stmt]:
    """The statements of a function's own body (not of the functions and classes it defines), docstring
    left out."""
    found: list[ast.stmt] = []
    todo = list(function.body)
    if todo and isinstance(todo[0], ast.Expr) and isinstance(todo[0].value, ast.Constant):
        todo = todo[1:]
    while todo:
        node = todo.pop(0)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        found.append(node)
        for name in ("body", "orelse", "finalbody", "handlers"):
            todo += [n for n in getattr(node, name, []) if isinstance(n, ast.stmt)]
        for handler in getattr(node, "handlers", []):
            todo += list(handler.body)
    return found


def mutate(text: str, node: ast.stmt) -> tuple[str, str]:
    """(mutated file, what was done) for one statement."""
    lines = text.splitlines(keepends=True)
    first = lines[node.lineno - 1]
    indent = first[: len(first) - len(first.lstrip())]
    if isinstance(node, (ast.If, ast.While)) and node.test.end_lineno == node.lineno:
        segment = ast.get_source_segment(text, node.test) or ""
        lines[node.lineno - 1] = first.replace(segment, f"not ({segment})", 1)
        return "".join(lines), "condition negated"
    compound = isinstance(node, (ast.If, ast.While, ast.For, ast.With, ast.Try))
    if node.lineno == node.end_lineno and not compound:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Compare) and type(sub.ops[0]) in SWAP:
                changed = ast.Compare(sub.left, [SWAP[type(sub.ops[0])](), *sub.ops[1:]], sub.comparators)
                segment = ast.get_source_segment(text, sub) or ""
                lines[node.lineno - 1] = first.replace(segment, ast.unparse(changed), 1)
                return "".join(lines), "comparison reversed"
        if (
            isinstance(node, ast.Return)
            and node.value is not None
            and not (isinstance(node.value, ast.Constant) and node.value.value is None)
        ):
            lines[node.lineno - 1] = f"{indent}return None\n"
            return "".join(lines), "return None"
    if isinstance(node, (ast.If, ast.While, ast.For, ast.With, ast.Try)):  # raise just before it
        lines.insert(node.lineno - 1, f"{indent}raise RuntimeError('mutant')\n")
        return "".join(lines), "raise before"
    lines[node.lineno - 1 : node.end_lineno] = [f"{indent}raise RuntimeError('mutant')\n"]
    return "".join(lines), "raise"


def mutants(project: Path, recorded: testmap.TestMap, seed: int) -> list[Mutant]:
    pick = random.Random(seed)
    out = []
    for name in SERVICES:
        text = (project / name).read_text()
        tree = ast.parse(text)
        functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        for function in sorted(functions, key=lambda f: f.lineno):
            statements = {s.lineno: s for s in body_statements(function)}
            reached = sorted(line for line in statements if recorded.reaching(name, [line]))
            if not reached:
                continue
            line = pick.choice(reached)
            source, kind = mutate(text, statements[line])
            ast.parse(source)  # a mutant is valid Python
            out.append(Mutant(name, function.name, line, kind, source))
    return out


def counts(stdout: str) -> dict[str, int]:
    found = {k: 0 for k in ("passed", "failed", "error", "errors", "deselected")}
    for number, what in re.findall(r"(\d+) (passed|failed|errors?|deselected)", stdout):
        found[what] = max(found[what], int(number))
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=25)
    parser.add_argument("--limit", type=int, default=0, help="only the first N mutants (a quick look)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stacktest-affected-") as top:
        project = bundled_copy(Path(top) / "proj", git=True)
        recorded_run = stacktest(project, "coverage", "run", "--contexts", "-q", "-p", "no:randomly")
        if recorded_run.returncode != 0:
            sys.exit(f"recording the map failed:\n{recorded_run.stdout[-3000:]}{recorded_run.stderr[-3000:]}")
        recorded = testmap.from_json(json.loads((project / ".stacktest/last/testmap.json").read_text()))
        assert recorded is not None
        suite = len(recorded.tests)
        chosen = mutants(project, recorded, options.seed)
        if options.limit:
            chosen = chosen[: options.limit]
        rows = []
        print(f"{len(chosen)} mutants, suite of {suite} tests")
        print(f"{'function':42} {'line':>5} {'mutation':20} {'selected':>9} {'share':>6}  caught by")
        for m in chosen:
            path = project / m.file
            original = path.read_text()
            path.write_text(m.source)
            try:
                selection = affected.select(load_settings(cwd=project, environ={}), "HEAD")
                ran = suite if selection.everything else len(selection.tests)
                done = stacktest(project, "test", "--affected", "-q", "-p", "no:randomly")
                seen = counts(done.stdout)
                failed = seen["failed"] + seen["error"] + seen["errors"]
                how = "a test failed" if done.returncode == 1 and failed else ""
                if not how and "error[not-ready]" in done.stderr:
                    how = "the service never got ready"
                caught = bool(how)
                if not caught:
                    full = stacktest(project, "test", "-q", "-p", "no:randomly")
                    how = "MISSED: the whole suite catches it" if full.returncode == 1 else UNSEEN
            finally:
                path.write_text(original)
            label = f"{Path(m.file).parent.name}.{Path(m.file).stem}.{m.function}"
            share = ran / suite
            rows.append((label, m.line, m.kind, ran, share, caught, how))
            print(f"{label:42} {m.line:>5} {m.kind:20} {ran:>4}/{suite:<4} {share:>6.1%}  {how}", flush=True)
    shares = [r[4] for r in rows]
    median = statistics.median(shares)
    unseen = [r for r in rows if r[6] == UNSEEN]  # equivalent mutants: no test of the suite sees them
    missed = [r for r in rows if not r[5] and r[6] != UNSEEN]
    print(
        f"median share of the suite run: {median:.1%}; caught {sum(r[5] for r in rows)} of {len(rows)}; "
        f"missed by --affected and caught by the whole suite: {len(missed)}; seen by no test: {len(unseen)}"
    )
    record(
        "affected",
        median,
        "every mutant the whole suite catches caught by --affected; median share of the suite run <= 0.15",
        not missed and median <= 0.15 and len(rows) - len(unseen) >= 30,
        {
            "mutants": len(rows),
            "suite": suite,
            "caught": sum(r[5] for r in rows),
            "seen_by_no_test": [f"{r[0]}:{r[1]} {r[2]}" for r in unseen],
            "median_share": round(median, 4),
            "max_share": round(max(shares), 4),
            "missed": [f"{r[0]}:{r[1]} {r[2]}: {r[6]}" for r in missed],
            "not_ready": sum(1 for r in rows if r[6] == "the service never got ready"),
            "seed": options.seed,
        },
        f"python benchmarks/affected.py --seed {options.seed}",
    )


if __name__ == "__main__":
    main()
