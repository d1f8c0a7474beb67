"""What the installed service runs from this package."""

import os

SHAPE = "installed"


def reached_installed():
    where = os.path.dirname(os.path.abspath(__file__))
    pid = os.getpid()
    served = {"shape": SHAPE, "file": __file__}
    served["where"], served["pid"] = where, pid
    return served


def never_installed():
    where = "never"
    served = {"shape": SHAPE, "file": __file__}
    served["where"], served["pid"] = where, os.getpid()
    return served


REACHED = reached_installed
