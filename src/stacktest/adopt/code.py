"""What a service's Python code says about its HTTP side: the routes it declares (Flask, FastAPI,
Starlette, Django, aiohttp) and the framework pages it serves without declaring them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from stacktest.adopt.files import python_files, read_text

__all__ = ["Code", "read_code"]

_ROUTES = (
    re.compile(r"\.(?:route|get|head|api_route|add_get|add_route)\(\s*[rf]?[\"']([^\"'{<]*)[\"']"),
    re.compile(r"\b(?:re_)?path\(\s*r?[\"']\^?([^\"'$<(]*)\$?[\"']"),
    re.compile(r"\b(?:Route|Mount)\(\s*[\"']([^\"'{]*)[\"']"),
    # a health-like path anywhere (``if self.path == "/health"`` in a stdlib server)
    re.compile(r"[\"'](/(?:health|healthz|healthcheck|ping|ready|readyz|livez|status)/?)[\"']"),
)
# code that serves HTTP: a web framework or the standard library's servers
_SERVES_HTTP = re.compile(
    r"^\s*(?:from|import)\s+(?:flask|fastapi|starlette|django|aiohttp|tornado|bottle|falcon|quart|sanic|"
    r"litestar|pyramid|http\.server|wsgiref)\b",
    re.MULTILINE,
)


@dataclass
class Code:
    routes: list[str] = field(default_factory=list)  # declared paths, in the order found
    frameworks: list[str] = field(default_factory=list)  # "fastapi", "django-admin", "http" (serves it)


def read_code(folders: Iterable[Path], root: Path) -> Code:
    """Routes and frameworks of the ``.py`` files under ``folders``."""
    code = Code()
    seen: set[Path] = set()
    for folder in folders:
        for path in python_files(folder, root):
            if path in seen or "test" in path.name:
                continue
            seen.add(path)
            text = read_text(path, root) or ""
            for pattern in _ROUTES:
                for match in pattern.finditer(text):
                    route = match[1]
                    if route not in code.routes:
                        code.routes.append(route)
            if re.search(r"\bFastAPI\(", text) and not re.search(r"docs_url\s*=\s*None", text):
                code.frameworks.append("fastapi")
            if "admin.site.urls" in text:
                code.frameworks.append("django-admin")
            if _SERVES_HTTP.search(text) and "http" not in code.frameworks:
                code.frameworks.append("http")
    return code
