import re

_WORD = re.compile(r"\w+(?:['-]\w+)*")


def count_words(text):
    """The number of words in ``text`` (hyphenated words and contractions count once)."""
    return len(_WORD.findall(text))
