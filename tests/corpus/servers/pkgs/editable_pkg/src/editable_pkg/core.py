"""What the editable service runs from this package."""

import os

SHAPE = "editable"


def reached_editable():
    where = os.path.dirname(os.path.abspath(__file__))
    pid = os.getpid()
    served = {"shape": SHAPE, "file": __file__}
    served["where"], served["pid"] = where, pid
    return served


def never_editable():
    where = "never"
    served = {"shape": SHAPE, "file": __file__}
    served["where"], served["pid"] = where, os.getpid()
    return served


REACHED = reached_editable
