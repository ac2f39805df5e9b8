"""Small text statistics."""


def count_vowels(text: str) -> int:
    """Return how many vowels (a, e, i, o, u, in either case) text contains."""
    return sum(1 for ch in text if ch in "aeiou")


def word_count(text: str) -> int:
    """Return the number of whitespace-separated words in text."""
    return len(text.split())
