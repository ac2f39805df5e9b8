"""Small helpers for text."""


def count_words(text: str) -> int:
    """Return the number of words in text (words are separated by any whitespace)."""
    return len(text.split(" "))
