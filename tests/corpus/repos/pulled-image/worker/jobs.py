"""What the worker can do. Each kind takes the job's payload and returns its result."""

from __future__ import annotations

import re
from collections import Counter

WORD = re.compile(r"[a-zA-Z']+")
STOP_WORDS = {"a", "an", "and", "the", "of", "to", "in", "is", "it"}


def word_count(payload: dict) -> dict:
    words = [w.lower() for w in WORD.findall(payload["text"])]
    return {"words": len(words), "distinct": len(set(words))}


def keywords(payload: dict) -> dict:
    words = [w.lower() for w in WORD.findall(payload["text"])]
    counted = Counter(w for w in words if w not in STOP_WORDS and len(w) > 2)
    top = int(payload.get("top", 3))
    return {"keywords": [w for w, _ in counted.most_common(top)]}


def reindex(payload: dict) -> dict:
    # kept for the old search cluster; nothing queues it any more
    return {"reindexed": payload.get("index", "all")}


KINDS = {"word_count": word_count, "keywords": keywords, "reindex": reindex}


class UnknownKind(ValueError):
    pass


def run(kind: str, payload: dict) -> dict:
    try:
        handler = KINDS[kind]
    except KeyError:
        raise UnknownKind(kind) from None
    return handler(payload)
