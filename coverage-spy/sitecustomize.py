"""stacktest's coverage spy: measure every Python process of a container, from PYTHONPATH=/coverage-spy.

What it does, and why (../shared/FIELD-NOTES.md has the measurements):

- Starts coverage in each process, whether or not the image has coverage: when it does not, the wheels
  stacktest put in ``_vendor/`` (C tracer for this Python if present, else pure Python) are used, so
  production images stay untouched.
- Reuses a coverage that already started (coverage 7.13+ starts itself from its .pth file when
  COVERAGE_PROCESS_START is set), via ``Coverage.current()``.
- Saves exactly once per process, at exit (coverage 7.13.1+ drops data files whose hashes collide when a
  process saves twice).
- Makes SIGTERM end the process through SystemExit(143): a PID-1 Python with no handler of its own then
  stops at once with its data saved, instead of waiting for SIGKILL. An application that installs its own
  handler replaces this one and keeps its behaviour.
- ``[run] patch = _exit`` keeps the data of forked workers that end with ``os._exit``.
- Skips short-lived ``python -c`` processes (healthchecks, ``docker exec``) so they do not flood the volume.
- Never breaks the service: any failure is written once to ``<data dir>/.spy-error`` (stacktest fails the
  run on it before the tests start) and to stderr.
"""

import os
import sys

_MIN = (3, 10)


def _note(data_dir, name, text):
    """Write a marker once per container (O_EXCL, named by hostname), and say it once on stderr."""
    import socket

    name = "%s.%s" % (name, socket.gethostname())
    try:
        os.makedirs(data_dir, exist_ok=True)
        fd = os.open(os.path.join(data_dir, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError:
        return
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
    sys.stderr.write("stacktest coverage spy: " + text + "\n")


def _skip():
    if os.environ.get("STACKTEST_COVERAGE_SKIP"):
        return True
    argv = getattr(sys, "orig_argv", None) or []
    return "-c" in argv[1:2] or argv[1:3] == ["-m", "coverage"]


def _import_coverage(here):
    try:
        import coverage

        return coverage
    except ImportError:
        pass
    tag = "cp%d%d" % sys.version_info[:2]
    for sub in (tag, "pure"):
        path = os.path.join(here, "_vendor", sub)
        if os.path.isdir(path):
            sys.path.insert(0, path)
            try:
                import coverage

                return coverage
            except ImportError:
                sys.path.remove(path)
    raise ImportError("coverage is not installed in the image and no vendored copy fits this Python")


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def _start():
    data_file = os.environ.get("COVERAGE_FILE")
    if not data_file or _skip():
        return
    data_dir = os.path.dirname(data_file)
    if sys.version_info < _MIN:
        _note(data_dir, ".spy-too-old", "Python %d.%d is too old for coverage 7.11+ (needs 3.10+); "
              "this container is not measured" % sys.version_info[:2])
        return
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        coverage = _import_coverage(here)
        cov = coverage.Coverage.current()
        if cov is None:
            os.makedirs(data_dir, exist_ok=True)
            source = [s for s in os.environ.get("STACKTEST_COVERAGE_SOURCE", "").split(":") if s]
            cov = coverage.Coverage(
                data_file=data_file,
                data_suffix=True,
                auto_data=True,  # save once, at exit
                source=source or None,
                config_file=os.environ.get("STACKTEST_COVERAGE_RCFILE") or True,
            )
            cov.start()
    except Exception as exc:  # the service must run even when measuring it fails; stacktest reports it
        _note(data_dir, ".spy-error", "coverage did not start: %s: %s" % (type(exc).__name__, exc))
        return
    import signal

    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _on_sigterm)


_start()
