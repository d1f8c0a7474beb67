"""What the multiprocessing shapes run in their child processes: a pool of each start method (fork,
spawn, forkserver) and a concurrent.futures.ProcessPoolExecutor, each started with the server and still
alive when the container stops."""

import os


def reached_mp_fork():
    method = "fork"
    pid = os.getpid()
    served = {"shape": "mp_fork", "method": method}
    served["pid"] = pid
    return served


def never_mp_fork():
    method = "never"
    served = {"shape": "mp_fork", "method": method}
    served["pid"] = os.getpid()
    return served


def reached_mp_spawn():
    method = "spawn"
    pid = os.getpid()
    served = {"shape": "mp_spawn", "method": method}
    served["pid"] = pid
    return served


def never_mp_spawn():
    method = "never"
    served = {"shape": "mp_spawn", "method": method}
    served["pid"] = os.getpid()
    return served


def reached_mp_forkserver():
    method = "forkserver"
    pid = os.getpid()
    served = {"shape": "mp_forkserver", "method": method}
    served["pid"] = pid
    return served


def never_mp_forkserver():
    method = "never"
    served = {"shape": "mp_forkserver", "method": method}
    served["pid"] = os.getpid()
    return served


def reached_process_pool():
    method = "executor"
    pid = os.getpid()
    served = {"shape": "process_pool", "method": method}
    served["pid"] = pid
    return served


def never_process_pool():
    method = "never"
    served = {"shape": "process_pool", "method": method}
    served["pid"] = os.getpid()
    return served


REACHED = {
    "mp_fork": reached_mp_fork,
    "mp_spawn": reached_mp_spawn,
    "mp_forkserver": reached_mp_forkserver,
    "process_pool": reached_process_pool,
}
