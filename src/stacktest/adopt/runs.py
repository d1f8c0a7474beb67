"""What a service's container runs, from its compose ``entrypoint``/``command`` and its image's
``ENTRYPOINT``/``CMD``, through shell wrappers (``sh -c "migrate && serve"``), process helpers (``tini``,
``gosu``, ``exec``) and entrypoint scripts of the repository that ``exec "$@"``: one :class:`Runs`, the
rules of which are in :data:`SERVERS` and :data:`WORKERS`."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Runs", "classify", "shell_commands"]

Kind = Literal["http", "worker", "scheduler", "oneshot", "tests", "python", "other", "unknown"]

# console scripts of HTTP servers: the container port each listens on unless told otherwise
SERVERS = {
    "gunicorn": 8000,
    "uvicorn": 8000,
    "hypercorn": 8000,
    "daphne": 8000,
    "granian": 8000,
    "waitress-serve": 8080,
    "uwsgi": 0,  # only with --http
    "flask": 5000,  # `flask run`
    "fastapi": 8000,  # `fastapi run`
    "http.server": 8000,
}
# workers: their ready line in the container output (None: they print none we can rely on)
WORKERS: dict[str, str | None] = {
    "celery": r"celery@\S+ ready\.",
    "rq": r"Listening on",
    "dramatiq": r"ready for action",
    "arq": None,
    "huey_consumer": None,
    "huey_consumer.py": None,
}
TEST_RUNNERS = {"pytest", "py.test", "tox", "nox", "behave"}
ONESHOT = {"alembic", "migrate", "collectstatic", "makemigrations", "loaddata", "createsuperuser", "check"}
_WRAPPERS = {"exec", "tini", "dumb-init", "gosu", "su-exec", "chpst", "nice", "env", "ddtrace-run"}
_WRAPPERS_WITH_ARG = {"gosu", "su-exec"}  # gosu USER cmd...
_RUNNERS = {("poetry", "run"), ("pipenv", "run"), ("uv", "run"), ("pdm", "run"), ("hatch", "run")}
_PYTHON = re.compile(r"^(python|pypy)(\d+(\.\d+)?)?$")
_SHELLS = {"sh", "bash", "dash", "ash", "zsh"}


@dataclass
class Runs:
    """What a service runs, and why init thinks so."""

    kind: Kind
    python: bool  # the service runs Python (so it can be covered)
    program: str = ""  # gunicorn, celery, manage.py runserver, ...
    port: int | None = None  # the container port it listens on, when the command says or implies one
    ready_line: str | None = None  # a worker's ready line in the container output
    logs_to_file: bool = False
    why: str = ""
    commands: list[list[str]] = field(default_factory=list)  # every command it runs, in order


def shell_commands(line: str) -> list[list[str]]:
    """The simple commands of a shell line (``a && b; c | d``), as words."""
    try:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        words = list(lexer)
    except ValueError:
        words = line.split()
    out: list[list[str]] = [[]]
    for w in words:
        if w and set(w) <= set(";&|"):
            out.append([])
        else:
            out[-1].append(w)
    return [c for c in out if c]


def classify(
    argv: Sequence[str],
    script: Callable[[str], str | None] = lambda _: None,
    own_scripts: Mapping[str, str] | None = None,
) -> Runs:
    """What ``argv`` (entrypoint + command) runs. ``script(path)`` gives the text of an entrypoint
    script of the repository found at that container path (None when it is not one); ``own_scripts``:
    the console scripts the repository's own packages declare (name -> ``module:function``)."""
    commands = _expand(list(argv), script, depth=0)
    if not commands:
        return Runs("unknown", False, why="no command: neither compose nor the Dockerfile says what runs")
    own = own_scripts or {}
    results = [_own(c, own) or _one(c) for c in commands]
    python = any(r.python for r in results)
    # the service is what its last long-running command is; the ones before prepare (migrate, collect)
    main = next((r for r in reversed(results) if r.kind not in ("oneshot", "other")), results[-1])
    main.python = python
    main.commands = commands
    return main


def _expand(argv: list[str], script: Callable[[str], str | None], depth: int) -> list[list[str]]:
    argv = _unwrap(argv)
    if not argv or depth > 3:
        return [argv] if argv else []
    program = os.path.basename(argv[0])
    if program in _SHELLS and len(argv) >= 3 and argv[1] in ("-c", "-lc", "-ec"):
        return [cmd for line in shell_commands(argv[2]) for cmd in _expand(line, script, depth + 1)]
    text = script(argv[0]) if "/" in argv[0] or argv[0].endswith(".sh") else None
    if text is not None:
        rest = argv[1:]
        if re.search(r'exec\s+"?\$(@|\{@\})"?', text):
            return _expand(rest, script, depth + 1) if rest else []
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
        found = [c for ln in lines for c in shell_commands(ln) if _one(_unwrap(c)).kind != "other"]
        return [cmd for c in found for cmd in _expand(c, script, depth + 1)] or [argv]
    return [argv]


def _own(argv: list[str], own: Mapping[str, str]) -> Runs | None:
    """A console script of the repository's own package (``pip install .`` made it)."""
    program = os.path.basename(argv[0]) if argv else ""
    if program not in own:
        return None
    return Runs(
        "python",
        True,
        program=program,
        why=f"runs {program}, this repository's console script ({own[program]})",
    )


def _unwrap(argv: list[str]) -> list[str]:
    """Drop ``VAR=value`` prefixes and process helpers: ``exec tini -- gosu app gunicorn`` -> gunicorn."""
    words = list(argv)
    while words:
        first = os.path.basename(words[0])
        if re.match(r"^\w+=", words[0]):
            words = words[1:]
        elif first in _WRAPPERS:
            words = words[2:] if first in _WRAPPERS_WITH_ARG else words[1:]
            while words and words[0].startswith("-"):
                words = words[1:]  # tini's --, env's -i
        elif (len(words) >= 2 and (first, words[1]) in _RUNNERS) or (
            first == "newrelic-admin" and len(words) >= 2
        ):
            words = words[2:]
        elif first == "opentelemetry-instrument":
            words = words[1:]
        else:
            break
    return words


def _one(argv: list[str]) -> Runs:
    """One simple command."""
    if not argv:
        return Runs("other", False)
    program = os.path.basename(argv[0])
    args = argv[1:]
    python = bool(_PYTHON.match(program))
    if python:
        if "-m" in args and args.index("-m") + 1 < len(args):
            i = args.index("-m")
            module, rest = args[i + 1], args[i + 2 :]
            return _known(module.split(".")[0] if module != "http.server" else module, rest, True)
        script = next((a for a in args if not a.startswith("-")), "")
        if os.path.basename(script) == "manage.py":
            return _django(args[args.index(script) + 1 :])
        if script:
            return Runs("python", True, program=f"python {script}", why=f"runs `python {script}`")
        return Runs("python", True, program="python", why="runs python")
    if program in ("manage.py", "django-admin"):
        return _django(args)
    return _known(program, args, False)


def _known(program: str, args: list[str], via_python: bool) -> Runs:
    name = program.removesuffix(".py") if program.endswith("_consumer.py") else program
    if name in SERVERS:
        return _server(name, args)
    if name in WORKERS:
        sub = next((a for a in args if not a.startswith("-") and ":" not in a and "." not in a), "")
        if name == "celery" and "beat" in args:
            return Runs("scheduler", True, program="celery beat", why="runs `celery beat` (a scheduler)")
        if name == "celery" and "worker" not in args:
            return Runs("oneshot", True, program=f"celery {sub}", why=f"runs `celery {sub}`")
        to_file = any(a in ("-f", "--logfile") or a.startswith("--logfile=") for a in args)
        return Runs(
            "worker",
            True,
            program=name,
            ready_line=None if to_file else WORKERS[name],
            logs_to_file=to_file,
            why=f"runs the {name} worker",
        )
    if name in TEST_RUNNERS:
        return Runs("tests", True, program=name, why=f"runs {name} (a test runner)")
    if name in ONESHOT or (name == "alembic" and "upgrade" in args):
        return Runs("oneshot", True, program=name, why=f"runs {name} (one-shot)")
    if via_python:
        return Runs("python", True, program=f"python -m {program}", why=f"runs `python -m {program}`")
    return Runs("other", False, program=name)


def _server(name: str, args: list[str]) -> Runs:
    port: int | None = SERVERS[name] or None
    if name == "flask" and "run" not in args:
        return Runs("oneshot", True, program="flask", why="runs a `flask` command other than `run`")
    if name == "uwsgi":
        http = _option(args, "--http", "--http-socket")
        port = _port_of(http) if http else None
        kind: Kind = "http" if http else "python"
        return Runs(kind, True, program="uwsgi", port=port, why="runs uwsgi" + (" --http" if http else ""))
    bind = _option(args, "-b", "--bind", "--listen")
    explicit = _option(args, "--port", "-p")
    if name == "http.server":
        explicit = next((a for a in args if a.isdigit()), None)
    port = _port_of(explicit) if explicit else (_port_of(bind) if bind else port)
    return Runs("http", True, program=name, port=port, why=f"runs {name} (an HTTP server)")


def _django(args: list[str]) -> Runs:
    sub = next((a for a in args if not a.startswith("-")), "")
    if sub == "runserver":
        addr = next((a for a in args[args.index(sub) + 1 :] if not a.startswith("-")), "8000")
        return Runs("http", True, "manage.py runserver", _port_of(addr), why="runs Django's runserver")
    if sub == "test":
        return Runs("tests", True, "manage.py test", why="runs Django's tests")
    for worker in ("rqworker", "celery", "qcluster"):
        if sub == worker:
            return Runs("worker", True, f"manage.py {sub}", why=f"runs `manage.py {sub}` (a worker)")
    return Runs("oneshot", True, f"manage.py {sub}", why=f"runs `manage.py {sub}` (one-shot)")


def _option(args: list[str], *names: str) -> str | None:
    for i, a in enumerate(args):
        for n in names:
            if a == n and i + 1 < len(args):
                return args[i + 1]
            if a.startswith(n + "=") or (n.startswith("--") is False and a.startswith(n) and len(a) > len(n)):
                return a.split("=", 1)[1] if "=" in a else a[len(n) :]
    return None


def _port_of(value: str) -> int | None:
    match = re.search(r"(\d+)$", value.strip())
    return int(match[1]) if match and "$" not in value else None
