"""stacktest's coverage spy: measure every Python process of a container, from PYTHONPATH=/coverage-spy.

What it does, and why (../shared/FIELD-NOTES.md has the measurements):

- Starts coverage in each process, whether or not the image has coverage: when it does not, the wheels
  stacktest put in ``_vendor/`` (C tracer for this Python if present, else pure Python) are used, so
  production images stay untouched.
- Reuses a coverage that already started (coverage 7.13+ starts itself from its .pth file when
  COVERAGE_PROCESS_START is set), via ``Coverage.current()``.
- Saves at exit, at ``os._exit`` (``[run] patch = _exit``), before ``os.exec*``, when the stop signal
  arrives, and when stacktest asks (a real-time signal, before it stops the container: children of PID 1
  are killed by the kernel when PID 1 exits, some servers kill their workers). A later save rewrites the
  process's own file, whose name coverage (7.13.1+) renames with the hash of what it holds.
- Enters every measured process in the run's ledger (``.proc-<host>-<pid>-<nonce>``, JSON) when it
  starts and after every save, so stacktest can name a process that ran and left no data.
- The stop signal (SIGTERM, or the service's ``stop_signal``), when the process has no handler of its
  own: the data is saved, then the process ends as it would have without the spy (the default action,
  signal re-sent), so a service with a non-daemon thread or a bare ``except:`` loop still stops at once.
  Only PID 1, which the kernel never kills with a signal it does not handle, exits with 128 + signal.
- On Python 3.12+, measures with sys.monitoring where coverage can (``_choose_core``).
- Skips processes started into the container from outside (healthchecks, ``docker exec``: their parents
  leave the PID namespace without passing PID 1), so they neither flood the volume nor enter the ledger;
  every process that descends from PID 1 is measured, ``python -c`` workers of multiprocessing included.
- Runs the image's own ``sitecustomize`` afterwards, if it has one (ours shadows it on PYTHONPATH).
- Never breaks the service: a failure is said on stderr, always, and written once to a marker in the data
  folder (stacktest fails the run on it before the tests start) when that folder is writable.
"""

import os
import sys

_MIN = (3, 10)
_cov = None


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


def _stat(proc, pid, field):
    """Field ``field`` of /proc/<pid>/stat as a number, counted from 3 (state) as proc(5) does: 4 is the
    parent, 22 the start time in clock ticks since boot. None: cannot tell."""
    try:
        with open("%s/%s/stat" % (proc, pid), "rb") as fh:
            stat = fh.read()
        return int(stat[stat.rindex(b")") + 2:].split()[field - 3])
    except (OSError, ValueError, IndexError):
        return None


def _started_from_outside(proc="/proc"):
    """A process that ``docker exec`` (or the engine's healthcheck) started in the container: its chain
    of parents leaves the container's PID namespace (parent 0) without passing through PID 1. Every
    process of the service itself (workers, reloader children, ``python -c`` workers of
    multiprocessing's spawn and forkserver) descends from PID 1, and is measured."""
    pid = os.getpid()
    for _ in range(128):
        if pid == 1:
            return False
        parent = _stat(proc, pid, 4)
        if parent is None or parent == 1:
            return False
        if parent == 0:
            return True
        pid = parent
    return False


def _skip():
    """Not measured: a helper started from outside the service (healthchecks, ``docker exec``),
    coverage's own command line, or a process told to skip (STACKTEST_COVERAGE_SKIP)."""
    if os.environ.get("STACKTEST_COVERAGE_SKIP"):
        return True
    argv = list(getattr(sys, "orig_argv", None) or [])[1:]
    for i, arg in enumerate(argv):
        if arg == "-m":
            if argv[i + 1:i + 2] == ["coverage"]:
                return True
            break
        if not arg.startswith("-"):
            break
    return _started_from_outside()


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


def _installed_packages():
    """The repository's packages (STACKTEST_COVERAGE_PACKAGES) that this Python can import, wherever
    pip put them (site-packages too): measured by name beside the service's source folders."""
    import importlib.util

    names = [n for n in os.environ.get("STACKTEST_COVERAGE_PACKAGES", "").split(":") if n]
    found = []
    for name in names:
        try:
            if importlib.util.find_spec(name) is not None:
                found.append(name)
        except (ImportError, ValueError):
            pass
    return found


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
    if os.environ.get("STACKTEST_COVERAGE_CONTEXTS"):  # per-test contexts swap a tracer's data
        try:
            import coverage.tracer  # noqa: F401
        except ImportError:
            cov.set_option("run:core", "pytrace")
        else:
            cov.set_option("run:core", "ctrace")
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


# A save under way in this process, and a stop signal that came meanwhile: a signal handler runs in
# the middle of whatever the main thread does, a save of os._exit or atexit included. A second save
# started there, then the process ended, would leave the first one half-written.
_busy = [False]
_pending = [None]
_contexts = [None]  # the per-test contexts module, when STACKTEST_COVERAGE_CONTEXTS asks for them


def _on_stop(signum, frame):
    if _busy[0]:
        _pending[0] = signum  # the save under way ends the process when it is done
        return
    try:
        if _cov is not None:
            _cov.stop()
            _cov.save()
    finally:
        _end(signum)


def _end(signum):
    """End the process as the stop signal would have without the spy."""
    import signal

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
            packages = _installed_packages()
            if packages and not source and os.getcwd() != "/":
                # no folder mapped: what it runs from its working folder, and the repository's packages
                # from site-packages (measuring "everything" leaves site-packages out)
                source = [os.getcwd()]
            cov = coverage.Coverage(
                data_file=data_file,
                data_suffix=True,
                auto_data=True,  # save at exit
                source=source or None,
                source_pkgs=packages or None,
                config_file=os.environ.get("STACKTEST_COVERAGE_RCFILE") or True,
            )
            _choose_core(cov)
            patches = list(cov.get_option("run:patch") or [])
            if "_exit" not in patches:  # forked workers end with os._exit: without it they never save
                cov.set_option("run:patch", patches + ["_exit"])
            cov.start()
    except Exception as exc:  # the service must run even when measuring it fails; stacktest reports it
        _note(data_dir, ".spy-error", "coverage did not start: %s: %s" % (type(exc).__name__, exc))
        return
    _cov = cov
    if os.environ.get("STACKTEST_COVERAGE_CONTEXTS"):
        try:
            import _stacktest_contexts

            _stacktest_contexts.install(cov)
            _contexts[0] = _stacktest_contexts
        except Exception as exc:
            _note(data_dir, ".spy-error", "per-test contexts did not start: %s: %s" % (type(exc).__name__, exc))
    _install_save_request()
    _ledger_open(data_dir)
    _wrap_save(cov)
    _patch_exec(cov)
    os.register_at_fork(after_in_child=lambda: _after_fork(data_dir))
    _install_stop_handlers()


# The process ledger: one small JSON file per measured process in the data folder,
# .proc-<host>-<pid>-<nonce>, written when measuring starts and again after every save. stacktest reads
# it after the run: a process whose entry has no save ran code and left no data (killed, crashed), and
# the run says so instead of reporting a figure without it.
_ledger = {}


def _ledger_open(data_dir):
    import socket
    import time

    host = socket.gethostname()
    pid = os.getpid()
    _ledger.clear()
    _ledger["path"] = os.path.join(data_dir, ".proc-%s-%d-%s" % (host, pid, os.urandom(4).hex()))
    _ledger["rec"] = {
        "host": host,
        "pid": pid,
        "ppid": os.getppid(),
        "argv": list(getattr(sys, "orig_argv", None) or sys.argv),
        "exe": sys.executable,
        "start": _stat("/proc", "self", 22),  # with the pid, names the process even if the pid is reused
        "started_at": time.time(),
        "saves": 0,
        "save_signal": _SAVE_SIGNAL[0],
    }
    _ledger_write()


def _ledger_write():
    import json

    path = _ledger.get("path")
    if not path:
        return
    # The folder is writable for every user of the container, like /tmp, and the entry's name is there to
    # read: a new file of a name nobody can guess, never one that exists, never through a symlink.
    tmp = os.path.join(os.path.dirname(path), ".tmp%s.%s" % (os.path.basename(path), os.urandom(6).hex()))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        with os.fdopen(os.open(tmp, flags, 0o644), "w") as fh:
            json.dump(_ledger["rec"], fh)
        os.replace(tmp, path)
    except (OSError, ValueError) as exc:
        sys.stderr.write("stacktest coverage spy: cannot write %s: %s\n" % (path, exc))
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _saved():
    import time

    rec = _ledger.get("rec")
    if rec is None or rec["pid"] != os.getpid():  # a fork that has no entry of its own
        return
    rec["saves"] += 1
    rec["saved_at"] = time.time()
    _ledger_write()


def _wrap_save(cov):
    """Every save (at exit, os._exit, the stop signal, a save request, a snapshot) is entered in the
    ledger once the data is written."""
    save = cov.save

    def save_and_enter():
        _busy[0] = True
        try:
            if _contexts[0] is not None:
                _contexts[0].write(cov)
            save()
            _saved()
        finally:
            _busy[0] = False
            if _pending[0] is not None:
                _end(_pending[0])

    cov.save = save_and_enter


def _patch_exec(cov):
    """A process that replaces itself (os.exec*: an entrypoint that execs the server) saves first: it
    never reaches exit. All of os.exec* end in execv or execve."""

    def patched(real):
        def exec_(*args, **kwargs):
            try:
                if _cov is not None:
                    _cov.save()
            except Exception as exc:
                sys.stderr.write("stacktest coverage spy: save before exec failed: %s\n" % exc)
            return real(*args, **kwargs)

        return exec_

    os.execv = patched(os.execv)
    os.execve = patched(os.execve)


def _after_fork(data_dir):
    """A forked child is a process of its own in the ledger, unless the fork is subprocess's way to
    exec another program (a preexec_fn runs Python in the child): that program enters itself."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "_execute_child" and "subprocess" in frame.f_code.co_filename:
            _ledger.clear()
            return
        frame = frame.f_back
    _ledger_open(data_dir)


# A save request: stacktest sends this signal to every measured process before it stops a container,
# so that processes ended without a chance to save (children of PID 1, which the kernel kills when PID
# 1 exits; workers that their parent kills) have their data written. The process goes on running.
_SAVE_SIGNAL = [None]


def _install_save_request():
    import signal

    number = getattr(signal, "SIGRTMAX", None)
    if number is None:
        return
    number = int(number) - 3
    try:
        if signal.getsignal(number) != signal.SIG_DFL:
            return
        signal.signal(number, _on_save_request)
    except (OSError, ValueError):  # not the main thread, or not a signal here
        return
    _SAVE_SIGNAL[0] = number


def _on_save_request(signum, frame):
    if _busy[0]:  # a save is under way: it enters the ledger when done
        return
    try:
        if _cov is not None:
            _cov.save()
    except Exception as exc:
        sys.stderr.write("stacktest coverage spy: save on request failed: %s\n" % exc)


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
