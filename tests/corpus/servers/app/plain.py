"""A standard-library server that calls into an installed package: `python plain.py <package>`, where
<package> is installed into the image's virtualenv (a wheel of it, or editable)."""

import importlib
import sys

from jsonserver import serve

CORE = importlib.import_module(sys.argv[1] + ".core")


def answer(path):
    if path == "/health":
        return {"status": "ok"}
    if path == "/reached/" + CORE.SHAPE:
        return CORE.REACHED()
    return None


if __name__ == "__main__":
    serve(answer)
