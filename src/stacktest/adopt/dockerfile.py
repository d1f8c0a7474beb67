"""A Dockerfile as init needs it: its stages, and in each the instructions with ``ARG``/``ENV``
substituted, line continuations joined (the ``# escape=`` directive honoured), exec and shell forms told
apart. Heredoc bodies (``RUN <<EOF``) are skipped.

Written here rather than taken from a library: what init reads (FROM, COPY/ADD with their flags,
WORKDIR, ENV, ARG, RUN, CMD, ENTRYPOINT, HEALTHCHECK, EXPOSE, USER) is a small part of the grammar, and
the libraries that parse more (dockerfile-parse) neither substitute per stage nor parse the exec form.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

__all__ = ["Instruction", "Stage", "command_words", "parse", "substitute"]

_VAR = re.compile(r"\$(?:\{(\w+)(?::?([-+])([^}]*))?\}|(\w+))")
_HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    args: str  # variables substituted
    flags: dict[str, str] = field(default_factory=dict)  # --from=builder, --chown=...

    @property
    def words(self) -> list[str]:
        """The arguments as words: a JSON array (exec form) or split as a shell would."""
        return command_words(self.args)


@dataclass
class Stage:
    base: str
    name: str
    index: int
    instructions: list[Instruction] = field(default_factory=list)
    parent: Stage | None = None  # the earlier stage it is FROM: it has everything that one has

    def last(self, keyword: str) -> Instruction | None:
        """The last ``keyword`` instruction of this stage or, failing that, of the stages it is FROM."""
        own = next((i for i in reversed(self.instructions) if i.keyword == keyword), None)
        return own if own is not None or self.parent is None else self.parent.last(keyword)

    def all(self, *keywords: str) -> list[Instruction]:
        inherited = self.parent.all(*keywords) if self.parent is not None else []
        return inherited + [i for i in self.instructions if i.keyword in keywords]


def command_words(args: str) -> list[str]:
    """``["gunicorn", "app:app"]`` (exec form) or ``gunicorn app:app`` (shell form) as words."""
    text = args.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
    try:
        return shlex.split(text, comments=False)
    except ValueError:  # an unbalanced quote: words as far as they go
        return text.split()


def substitute(text: str, variables: dict[str, str]) -> str:
    """``$X``, ``${X}``, ``${X:-default}`` and ``${X:+alt}`` as the builder expands them."""

    def one(match: re.Match[str]) -> str:
        name = match[1] or match[4]
        value = variables.get(name, "")
        if match[2] == "-":
            return value or substitute(match[3] or "", variables)
        if match[2] == "+":
            return substitute(match[3] or "", variables) if value else ""
        return value

    return _VAR.sub(one, text)


def parse(text: str) -> list[Stage]:
    """The stages of a Dockerfile, in order (an empty list when it has no FROM)."""
    escape = "\\"
    directive = re.match(r"\s*#\s*escape\s*=\s*(\S)", text)
    if directive:
        escape = directive[1]
    stages: list[Stage] = []
    global_args: dict[str, str] = {}
    variables: dict[str, str] = {}
    for keyword, raw in _logical_lines(text, escape):
        if keyword == "FROM":
            words = substitute(raw, global_args).split()
            words = [w for w in words if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else str(len(stages))
            base = words[0] if words else ""
            parent = next((s for s in reversed(stages) if s.name == base), None)
            stages.append(Stage(base=base, name=name, index=len(stages), parent=parent))
            variables = dict(global_args)
            continue
        if keyword == "ARG":
            for part in command_words(raw):
                key, eq, value = part.partition("=")
                scope = variables if stages else global_args
                if eq:
                    scope[key] = substitute(value, variables if stages else global_args)
                else:
                    scope.setdefault(key, global_args.get(key, ""))
            continue
        if not stages:
            continue
        args = raw if keyword in ("RUN", "CMD", "ENTRYPOINT") else substitute(raw, variables)
        flags, args = _flags(args) if keyword in ("COPY", "ADD", "HEALTHCHECK", "RUN") else ({}, args)
        if keyword == "ENV":
            variables.update(_env_pairs(args))
        stages[-1].instructions.append(Instruction(keyword, args, flags))
    return stages


def _logical_lines(text: str, escape: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pending = ""
    heredoc: str | None = None
    for line in text.splitlines():
        if heredoc is not None:
            if line.strip() == heredoc:
                heredoc = None
            continue
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith(escape):
            pending += stripped[:-1] + " "
            continue
        logical = pending + stripped
        pending = ""
        keyword, _, args = logical.partition(" ")
        out.append((keyword.upper(), args.strip()))
        marker = _HEREDOC.search(args)
        if marker and keyword.upper() in ("RUN", "COPY", "ADD"):
            heredoc = marker[1]
    if pending:
        keyword, _, args = pending.strip().partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


def _flags(args: str) -> tuple[dict[str, str], str]:
    flags: dict[str, str] = {}
    rest = args
    while rest.startswith("--"):
        word, _, rest = rest.partition(" ")
        key, _, value = word[2:].partition("=")
        flags[key] = value
        rest = rest.lstrip()
    return flags, rest


def _env_pairs(args: str) -> dict[str, str]:
    words = command_words(args)
    if words and "=" not in words[0]:  # the legacy form: ENV KEY value with spaces
        return {words[0]: " ".join(words[1:])}
    return dict(w.partition("=")[::2] for w in words if "=" in w)
