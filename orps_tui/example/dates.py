"""Small helpers for dates."""


def is_leap(year: int) -> bool:
    """Return True if year is a leap year in the Gregorian calendar."""
    return year % 4 == 0
