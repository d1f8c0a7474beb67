"""Per-test contexts for stacktest's coverage spy: each line a request runs is entered under the pytest node
id of the test that sent the request (coverage.py dynamic contexts), never under another test's.

Loaded by sitecustomize when STACKTEST_COVERAGE_CONTEXTS is set. Standard library only: it runs inside the
service's container, beside the service's own packages.

How a test's id travels: the test process sends the header ``baggage: stacktest.test=<node id>`` (W3C
baggage, the value percent-encoded). This module picks it up where a request enters the service, with no
edit to the service: ``http.server`` (and what is built on it: wsgiref, Django's runserver, Werkzeug's dev
server), gunicorn, uvicorn and hypercorn (WSGI and ASGI), Flask, Django (WSGI and ASGI) and Starlette.
It forwards the id on the service's own outgoing HTTP calls (``http.client``: urllib, requests, urllib3)
and through Celery's task headers (``stacktest_test``), so the next service attributes the same way; work
a request hands to a thread pool (``ThreadPoolExecutor``, so ``run_in_executor`` and ``asyncio.to_thread``,
and anyio's worker threads, where Starlette and FastAPI run sync endpoints) stays the request's.

Why it is right under parallel tests: coverage.py's own ``switch_context`` changes the context of the
whole process, so two requests served at once by two threads would mix. Here each request swaps the
data dictionary of its own thread's tracer (coverage keeps one tracer per thread, and looks a file's line
set up in that dictionary on every call or resume of a frame) for one of its own, and swaps it back when
the request ends; the lines gathered are written under the test's context before each save. Async
requests get the swap around each step of their coroutine. What runs outside any request (start-up,
threads a request starts and leaves running, other processes) stays in the ``unattributed`` context.
"""

import os
import sys
import threading
from urllib.parse import quote, unquote

HEADER = "baggage"
KEY = "stacktest.test"
CELERY_HEADER = "stacktest_test"
UNATTRIBUTED = "unattributed"

_local = threading.local()
_lock = threading.Lock()
_gathered = {}  # context -> {file: set of lines (or arcs)}
_state = {"cov": None}


# the header ------------------------------------------------------------------------------------------
def parse(values):
    """The test id in ``baggage`` header values (a list: a request may carry several), or None."""
    for value in values or ():
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        for member in str(value).split(","):
            key, sep, rest = member.partition("=")
            if sep and key.strip() == KEY:
                found = unquote(rest.split(";", 1)[0].strip())
                if found:
                    return found
    return None


def header_value(context):
    return "%s=%s" % (KEY, quote(context, safe=""))


def current():
    """The test whose request this thread serves now, or None."""
    return getattr(_local, "context", None)


# attribution ----------------------------------------------------------------------------------------
def _tracer():
    """This thread's coverage tracer (the C or Python one), or None when coverage does not trace here."""
    cov = _state["cov"]
    trace = sys.gettrace()
    if cov is None or trace is None:
        return None
    tracer = getattr(trace, "__self__", trace)
    collector = getattr(cov, "_collector", None)
    tracers = getattr(collector, "tracers", None) or ()
    if not any(t is tracer for t in tracers) or not isinstance(getattr(tracer, "data", None), dict):
        return None
    return tracer


def enter(context, data=None):
    """Attribute what this thread runs from now on to ``context``. Returns a token for ``leave``; None
    when there is nothing to attribute or the thread already serves a test (the outer one wins)."""
    if not context or current() is not None:
        return None
    tracer = _tracer()
    own = data is None
    if own:
        data = {}
    previous = None
    if tracer is not None:
        previous = tracer.data
        tracer.data = data
    _local.context = context
    token = (tracer, previous, data, context, own)
    _local.token = token
    return token


def leave(token):
    if token is None:
        return
    tracer, previous, data, context, own = token
    if tracer is not None:
        tracer.data = previous
    _local.context = None
    _local.token = None
    if own:
        gather(context, data)


def gather(context, data):
    if not data:
        return
    with _lock:
        into = _gathered.setdefault(context, {})
        for name, lines in list(data.items()):
            into.setdefault(name, set()).update(lines)


def write(cov):
    """Enter what the requests gathered into coverage's data, each under its test's context; called
    before every save."""
    with _lock:
        taken = dict(_gathered)
        _gathered.clear()
    if not taken:
        return
    collector = cov._collector
    covdata = collector.covdata
    branch = bool(cov.get_option("run:branch"))
    packed = branch and getattr(getattr(collector, "core", None), "packed_arcs", False)
    previous = getattr(covdata, "_current_context", None)
    try:
        for context, files in sorted(taken.items()):
            covdata.set_context(context)
            if branch:
                arcs = {name: [_unpack(a) for a in v] if packed else list(v) for name, v in files.items()}
                covdata.add_arcs(collector.mapped_file_dict(arcs))
            else:
                covdata.add_lines(collector.mapped_file_dict({n: list(v) for n, v in files.items()}))
    finally:
        covdata.set_context(previous)


def _unpack(packed):
    """coverage's C tracer packs an arc's two line numbers in one int (coverage/collector.py does the
    same to read them)."""
    l1 = packed & 0xFFFFFFF
    l2 = (packed & (0xFFFFFFF << 28)) >> 28
    if packed & (1 << 56):
        l1 *= -1
    if packed & (1 << 57):
        l2 *= -1
    return (l1, l2)


# entry points -----------------------------------------------------------------------------------------
def wrap_wsgi(app):
    if getattr(app, "_stacktest_contexts", False):
        return app

    def wsgi(environ, start_response):
        token = enter(parse([environ.get("HTTP_BAGGAGE")]))
        try:
            return app(environ, start_response)
        finally:
            leave(token)

    wsgi._stacktest_contexts = True
    return wsgi


def _asgi_context(scope):
    if not isinstance(scope, dict) or scope.get("type") not in ("http", "websocket"):
        return None
    return parse([v for k, v in scope.get("headers") or () if bytes(k).lower() == b"baggage"])


class _Stepped:
    """Awaits a coroutine, attributing each of its steps to one test: the event loop's thread serves
    other requests between the steps."""

    def __init__(self, coro, context):
        self._coro = coro
        self._context = context
        self._data = {}

    def __await__(self):
        steps = self._coro.__await__()
        value, error = None, None
        try:
            while True:
                token = enter(self._context, self._data)
                try:
                    yielded = steps.throw(error) if error is not None else steps.send(value)
                except StopIteration as done:
                    return done.value
                finally:
                    leave(token)
                value, error = None, None
                try:
                    value = yield yielded
                except GeneratorExit:
                    steps.close()
                    raise
                except BaseException as exc:  # cancellation and the like go on into the coroutine
                    error = exc
        finally:
            gather(self._context, self._data)


def wrap_asgi(app):
    if getattr(app, "_stacktest_contexts", False):
        return app

    async def asgi(scope, receive, send):
        context = _asgi_context(scope)
        if context is None or current() is not None:
            return await app(scope, receive, send)
        return await _Stepped(app(scope, receive, send), context)

    asgi._stacktest_contexts = True
    return asgi


def wrap_app(app):
    """A WSGI or an ASGI application, told apart by how it is called (gunicorn serves both: its
    uvicorn worker class runs ASGI)."""
    if getattr(app, "_stacktest_contexts", False):
        return app
    wsgi, asgi = wrap_wsgi(app), wrap_asgi(app)

    def either(*args):
        if len(args) == 3:
            return asgi(*args)
        return wsgi(*args)

    either._stacktest_contexts = True
    return either


def _wrap_method(cls, name, wrapper):
    real = cls.__dict__.get(name)
    if real is None or getattr(real, "_stacktest_contexts", False):
        return
    patched = wrapper(real)
    patched._stacktest_contexts = True
    setattr(cls, name, patched)


def _http_server(module):
    """BaseHTTPRequestHandler: the request is known once parse_request has read its headers; its
    handler method runs next. The attribution ends with handle_one_request, finish or the next request
    of the connection (Django's handler overrides handle_one_request)."""
    cls = module.BaseHTTPRequestHandler

    def end(handler):
        token = handler.__dict__.pop("_stacktest_token", None)
        leave(token)

    def parse_request(real):
        def parse_request(self):
            end(self)
            ok = real(self)
            if ok:
                self._stacktest_token = enter(parse(self.headers.get_all(HEADER) or ()))
            return ok

        return parse_request

    def ending(real):
        def method(self, *args, **kwargs):
            try:
                return real(self, *args, **kwargs)
            finally:
                end(self)

        return method

    _wrap_method(cls, "parse_request", parse_request)
    _wrap_method(cls, "handle_one_request", ending)
    import socketserver

    _wrap_method(socketserver.StreamRequestHandler, "finish", ending)


def _http_client(module):
    """Outgoing HTTP (urllib, requests, urllib3 build on http.client): the test's id goes along."""

    def putrequest(real):
        def putrequest(self, *args, **kwargs):
            real(self, *args, **kwargs)
            context = current()
            if context:
                self.putheader(HEADER, header_value(context))

        return putrequest

    _wrap_method(module.HTTPConnection, "putrequest", putrequest)


def _callable_wrapper(wrap):
    def wrapper(real):
        def method(self, *args, **kwargs):
            return wrap(real(self, *args, **kwargs))

        return method

    return wrapper


def _gunicorn(module):
    _wrap_method(module.BaseApplication, "wsgi", _callable_wrapper(wrap_app))


def _uvicorn(module):
    def load(real):
        def load(self, *args, **kwargs):
            result = real(self, *args, **kwargs)
            self.loaded_app = wrap_asgi(self.loaded_app)
            return result

        return load

    _wrap_method(module.Config, "load", load)


def _app_attribute(cls, wrap):
    def init(real):
        def init(self, app, *args, **kwargs):
            real(self, wrap(app), *args, **kwargs)

        return init

    _wrap_method(cls, "__init__", init)


def _hypercorn(module):
    _app_attribute(module.ASGIWrapper, wrap_asgi)
    _app_attribute(module.WSGIWrapper, wrap_wsgi)


def _method_wrapper(wrap):
    """A method that is itself the application (``self`` first)."""

    def wrapper(real):
        def method(self, *args):
            return wrap(lambda *inner: real(self, *inner))(*args)

        return method

    return wrapper


def _flask(module):
    _wrap_method(module.Flask, "wsgi_app", _method_wrapper(wrap_wsgi))


def _django_wsgi(module):
    _wrap_method(module.WSGIHandler, "__call__", _method_wrapper(wrap_wsgi))


def _django_asgi(module):
    _wrap_method(module.ASGIHandler, "__call__", _method_wrapper(wrap_asgi))


def _starlette(module):
    _wrap_method(module.Starlette, "__call__", _method_wrapper(wrap_asgi))


def _carry(fn, context):
    """``fn`` run under ``context`` in whichever thread runs it: work a request hands to a thread pool
    (an ASGI framework's sync views, ``run_in_executor``, ``asyncio.to_thread``) is the request's."""

    def carried(*args, **kwargs):
        token = enter(context)
        try:
            return fn(*args, **kwargs)
        finally:
            leave(token)

    return carried


def _thread_pools(module):
    def submit(real):
        def submit(self, fn, /, *args, **kwargs):
            context = current()
            return real(self, _carry(fn, context) if context else fn, *args, **kwargs)

        return submit

    _wrap_method(module.ThreadPoolExecutor, "submit", submit)


def _anyio(module):
    """anyio's worker threads (Starlette and FastAPI run sync endpoints there)."""
    real = module.run_sync
    if getattr(real, "_stacktest_contexts", False):
        return

    async def run_sync(func, *args, **kwargs):
        context = current()
        return await real(_carry(func, context) if context else func, *args, **kwargs)

    run_sync._stacktest_contexts = True
    module.run_sync = run_sync


def _celery(signals):
    """The id goes into the task's headers when a request of a test sends it, and the task runs under
    it in the worker (in the pool's child process, where the task runs)."""
    running = {}

    def published(sender=None, headers=None, **kwargs):
        context = current()
        if context and isinstance(headers, dict):
            headers.setdefault(CELERY_HEADER, context)

    def prerun(task_id=None, task=None, **kwargs):
        request = getattr(task, "request", None)
        context = getattr(request, CELERY_HEADER, None)
        if not context:
            context = (getattr(request, "headers", None) or {}).get(CELERY_HEADER)
        token = enter(context)
        if token is not None:
            running[task_id] = token

    def postrun(task_id=None, **kwargs):
        leave(running.pop(task_id, None))

    signals.before_task_publish.connect(published, weak=False)
    signals.task_prerun.connect(prerun, weak=False)
    signals.task_postrun.connect(postrun, weak=False)


HOOKS = {
    "http.server": _http_server,
    "http.client": _http_client,
    "gunicorn.app.base": _gunicorn,
    "uvicorn.config": _uvicorn,
    "hypercorn.app_wrappers": _hypercorn,
    "flask.app": _flask,
    "django.core.handlers.wsgi": _django_wsgi,
    "django.core.handlers.asgi": _django_asgi,
    "starlette.applications": _starlette,
    "celery.signals": _celery,
    "concurrent.futures.thread": _thread_pools,
    "anyio.to_thread": _anyio,
}


def _hook(name, module):
    try:
        HOOKS[name](module)
    except Exception as exc:  # the service must run even when a hook does not fit its version
        sys.stderr.write("stacktest coverage spy: cannot attribute requests through %s: %s: %s\n"
                         % (name, type(exc).__name__, exc))


class _AfterImport:
    """A finder first on sys.meta_path that lets the real finders find a watched module, then runs its
    hook once the module has run (the loader's own exec_module, wrapped on that loader alone)."""

    def __init__(self):
        self._finding = set()

    def find_spec(self, name, path=None, target=None):
        if name not in HOOKS or name in self._finding:
            return None
        import importlib.util

        self._finding.add(name)
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        finally:
            self._finding.discard(name)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return None
        real = loader.exec_module

        def exec_module(module):
            real(module)
            _hook(name, module)

        loader.exec_module = exec_module
        return spec


def _after_fork():
    """A child forked while its thread served a test: the child's work is not that request's (a pool
    worker, a daemon), and the parent writes what was gathered so far."""
    global _lock
    _lock = threading.Lock()  # another thread may have held it at the fork
    _gathered.clear()
    token = getattr(_local, "token", None)
    if token is not None and token[0] is not None:
        token[0].data = token[1]
    _local.context = None
    _local.token = None


def install(cov):
    """Start attributing: everything so far and everything outside a test's request is unattributed."""
    _state["cov"] = cov
    cov.switch_context(UNATTRIBUTED)
    for name in HOOKS:
        if name in sys.modules:
            _hook(name, sys.modules[name])
    sys.meta_path.insert(0, _AfterImport())
    os.register_at_fork(after_in_child=_after_fork)
    os.environ.setdefault("STACKTEST_COVERAGE_CONTEXTS", "1")  # children attribute too
