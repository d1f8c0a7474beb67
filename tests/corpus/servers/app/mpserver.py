"""The multiprocessing shapes in one standard-library server (PID 1, no signal handling of its own).

At start it makes a one-process pool of each start method (fork, spawn, forkserver) and a
ProcessPoolExecutor with its worker started: these children live until the container stops, when the
kernel kills them with PID 1. `python child_script.py` and `python -m childpkg` children run to their
end per request. /celery sends the Celery task and waits for its result."""

import concurrent.futures
import json
import multiprocessing
import os
import subprocess
import sys

import mpwork
from jsonserver import serve

HERE = os.path.dirname(os.path.abspath(__file__))
POOLS = {}
EXECUTOR = []


def start_children():
    for method in ("fork", "spawn", "forkserver"):
        POOLS["mp_" + method] = multiprocessing.get_context(method).Pool(1)
    executor = concurrent.futures.ProcessPoolExecutor(max_workers=1)
    executor.submit(os.getpid).result(timeout=60)  # its worker is started on first use: start it now
    EXECUTOR.append(executor)


def in_child(shape):
    if shape in POOLS:
        return POOLS[shape].apply(mpwork.REACHED[shape])
    if shape == "process_pool":
        return EXECUTOR[0].submit(mpwork.REACHED[shape]).result(timeout=30)
    argv = {
        "subprocess_script": [sys.executable, os.path.join(HERE, "child_script.py")],
        "subprocess_module": [sys.executable, "-m", "childpkg"],
    }.get(shape)
    if argv is None:
        return None
    done = subprocess.run(argv, cwd=HERE, capture_output=True, text=True, timeout=30, check=True)
    return json.loads(done.stdout)


def celery_task():
    import tasks

    return tasks.work.delay().get(timeout=30)


def answer(path):
    if path == "/health":
        return {"status": "ok"}
    if path == "/celery":
        return {"result": celery_task(), "server_pid": os.getpid()}
    if path.startswith("/reached/"):
        result = in_child(path[len("/reached/") :])
        return None if result is None else {"result": result, "server_pid": os.getpid()}
    return None


if __name__ == "__main__":
    start_children()
    serve(answer)
