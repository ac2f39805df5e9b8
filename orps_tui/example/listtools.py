"""Small helpers for lists of numbers."""


def smallest(xs: list[int]) -> int:
    """Return the smallest number in the non-empty list xs."""
    best = xs[0]
    for x in xs[1:]:
        if x > best:
            best = x
    return best


def total(xs: list[int]) -> int:
    """Return the sum of the numbers in xs."""
    return sum(xs)
