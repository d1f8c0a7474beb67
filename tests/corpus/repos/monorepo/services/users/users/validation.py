import re

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)


def problems(payload: dict) -> list[str]:
    """What is wrong with a new user's payload (empty when nothing is)."""
    found = []
    if not EMAIL.match(str(payload.get("email", ""))):
        found.append("email: not an e-mail address")
    if not str(payload.get("name", "")).strip():
        found.append("name: required")
    return found
