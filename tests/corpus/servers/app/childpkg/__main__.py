"""Run by the multiproc service as `python -m childpkg`: a child that runs to its end."""

import json
import os


def reached_subprocess_module():
    how = "module"
    pid = os.getpid()
    served = {"shape": "subprocess_module", "how": how}
    served["pid"] = pid
    return served


def never_subprocess_module():
    how = "never"
    served = {"shape": "subprocess_module", "how": how}
    served["pid"] = os.getpid()
    return served


if __name__ == "__main__":
    print(json.dumps(reached_subprocess_module()))
