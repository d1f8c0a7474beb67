"""Run by the multiproc service as `python child_script.py`: a child that runs to its end."""

import json
import os


def reached_subprocess_script():
    how = "script"
    pid = os.getpid()
    served = {"shape": "subprocess_script", "how": how}
    served["pid"] = pid
    return served


def never_subprocess_script():
    how = "never"
    served = {"shape": "subprocess_script", "how": how}
    served["pid"] = os.getpid()
    return served


if __name__ == "__main__":
    print(json.dumps(reached_subprocess_script()))
