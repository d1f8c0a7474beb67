"""A second Python process that a service starts: its lines must be measured too."""


def work():
    return "worked"


print(work())
