"""stacktest's coverage spy: measure every Python process of a container, from PYTHONPATH=/coverage-spy.

What it does, and why (../shared/FIELD-NOTES.md has the measurements):

- Starts coverage in each process, whether or not the image has coverage: when it does not, the wheels
  stacktest put in ``_vendor/`` (C tracer for this Python if present, else pure Python) are used, so
  production images stay untouched.
- Reuses a coverage that already started (coverage 7.13+ starts itself from its .pth file when
  COVERAGE_PROCESS_START is set), via ``Coverage.current()``.
- Saves exactly once per process (coverage 7.13.1+ drops data files whose hashes collide when a process
  saves twice): at exit, or when the stop signal arrives.
- The stop signal (SIGTERM, or the service's ``stop_signal``), when the process has no handler of its
  own: the data is saved, then the process ends as it would have without the spy (the default action,
  signal re-sent), so a service with a non-daemon thread or a bare ``except:`` loop still stops at once.
  Only PID 1, which the kernel never kills with a signal it does not handle, exits with 128 + signal.
- ``[run] patch = _exit`` keeps the data of forked workers that end with ``os._exit``.
- On Python 3.12+, measures with sys.monitoring where coverage can (``_choose_core``).
- Skips short-lived ``python -c`` processes (healthchecks, ``docker exec``) so they do not flood the volume.
- Runs the image's own ``sitecustomize`` afterwards, if it has one (ours shadows it on PYTHONPATH).
- Never breaks the service: a failure is said on stderr, always, and written once to a marker in the data
  folder (stacktest fails the run on it before the tests start) when that folder is writable.
"""

import os
import sys

_MIN = (3, 10)
_cov = None
_alive = []  # this process's .snap-alive marker, removed when it ends


def _note(data_dir, name, text):
    """Say why on stderr, always; write a marker once per container (O_EXCL, named by hostname)."""
    import socket

    sys.stderr.write("stacktest coverage spy: " + text + "\n")
    name = "%s.%s" % (name, socket.gethostname())
    try:
        os.makedirs(data_dir, exist_ok=True)
        fd = os.open(os.path.join(data_dir, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError as exc:
        if getattr(exc, "errno", None) != 17:  # EEXIST: another process of this container wrote it
            sys.stderr.write("stacktest coverage spy: cannot write %s: %s\n" % (data_dir, exc))
        return
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")


def _skip():
    """A ``python [options] -c ...`` process, or coverage's own command line."""
    if os.environ.get("STACKTEST_COVERAGE_SKIP"):
        return True
    argv = list(getattr(sys, "orig_argv", None) or [])[1:]
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "-c" or (arg.startswith("-") and not arg.startswith("--") and arg.endswith("c")
                           and "X" not in arg and "W" not in arg):
            return True
        if arg == "-m":
            return argv[i + 1:i + 2] == ["coverage"]
        if arg in ("-X", "-W", "--check-hash-based-pycs"):
            i += 2
            continue
        if not arg.startswith("-") or arg == "-":
            return False
        i += 1
    return False


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


def _choose_core(cov):
    """On Python 3.12+, measure with sys.monitoring (far cheaper than a trace function) where it is
    sound for the configuration: not for branch coverage before 3.14, dynamic contexts, plugins, or
    greenlet/eventlet/gevent concurrency, which it cannot measure (coverage's own rules, applied here
    so that no warning lands in the service's output). A core the configuration or COVERAGE_CORE
    names is kept; STACKTEST_COVERAGE_CORE overrides all (a benchmark compares the cores with it)."""
    forced = os.environ.get("STACKTEST_COVERAGE_CORE")
    if forced:
        cov.set_option("run:core", forced)
        return
    if sys.version_info < (3, 12) or cov.get_option("run:core"):
        return
    if cov.get_option("run:branch") and sys.version_info < (3, 14):
        return
    if cov.get_option("run:dynamic_context") or cov.get_option("run:plugins") or cov.get_option("run:timid"):
        return
    if set(cov.get_option("run:concurrency") or ()) & {"greenlet", "eventlet", "gevent"}:
        return
    cov.set_option("run:core", "sysmon")


def _on_stop(signum, frame):
    import signal

    try:
        _forget()
        if _cov is not None:
            _cov.stop()
            _cov.save()
    finally:
        if os.getpid() == 1:
            import posix

            posix._exit(128 + signum)  # the real _exit: coverage's patched os._exit would save again
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _install_stop_handlers():
    import signal

    names = {"SIGTERM", os.environ.get("STACKTEST_STOP_SIGNAL", "SIGTERM").upper()}
    for name in sorted(names):
        signum = getattr(signal, name if name.startswith("SIG") else "SIG" + name, None)
        if signum is None or signum == signal.SIGINT:  # SIGINT: KeyboardInterrupt, atexit saves
            continue
        if signal.getsignal(signum) == signal.SIG_DFL:  # None: a C-level handler; leave it alone
            signal.signal(signum, _on_stop)


def _start():
    global _cov
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
            if not os.access(data_dir, os.W_OK):
                raise OSError("the data folder %s is not writable for uid %d" % (data_dir, os.getuid()))
            source = [s for s in os.environ.get("STACKTEST_COVERAGE_SOURCE", "").split(":") if s]
            cov = coverage.Coverage(
                data_file=data_file,
                data_suffix=True,
                auto_data=True,  # save once, at exit
                source=source or None,
                config_file=os.environ.get("STACKTEST_COVERAGE_RCFILE") or True,
            )
            _choose_core(cov)
            cov.start()
    except Exception as exc:  # the service must run even when measuring it fails; stacktest reports it
        _note(data_dir, ".spy-error", "coverage did not start: %s: %s" % (type(exc).__name__, exc))
        return
    _cov = cov
    _install_stop_handlers()
    if os.environ.get("STACKTEST_COVERAGE_SNAPSHOTS"):
        _watch_snapshots(data_dir)
        os.register_at_fork(after_in_child=lambda: _watch_snapshots(data_dir))


def _forget():
    for path in _alive:
        try:
            os.unlink(path)
        except OSError:
            pass


def _generation(path):
    try:
        with open(path) as fh:
            return int(fh.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def _touch(path):
    try:
        open(path, "w").close()
    except OSError:
        pass


def _watch_snapshots(data_dir):
    """On a kept covered stack (`stacktest up --coverage`): when `stacktest coverage snapshot` writes a
    new generation into .snap-request, save what this process measured so far, keep measuring, and
    answer with .snap-ack-<generation>-<host>-<pid>. Saving again rewrites this process's own data file,
    which only grows: a snapshot never loses or counts twice what an earlier one had."""
    import atexit
    import socket
    import threading
    import time

    me = "%s-%d" % (socket.gethostname(), os.getpid())
    alive = os.path.join(data_dir, ".snap-alive-" + me)
    _touch(alive)
    _alive[:] = [alive]
    atexit.register(_forget)
    request = os.path.join(data_dir, ".snap-request")

    def loop():
        seen = _generation(request)
        while True:
            time.sleep(0.2)
            generation = _generation(request)
            if generation <= seen:
                continue
            seen = generation
            try:
                if _cov is not None:
                    _cov.save()
            except Exception as exc:
                sys.stderr.write("stacktest coverage spy: snapshot failed: %s\n" % exc)
            _touch(os.path.join(data_dir, ".snap-ack-%d-%s" % (generation, me)))

    threading.Thread(target=loop, name="stacktest-snapshot", daemon=True).start()


def _chain():
    """Run the image's own sitecustomize, which ours shadows."""
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["_stacktest_image_sitecustomize"] = module
    spec.loader.exec_module(module)


_start()
_chain()
