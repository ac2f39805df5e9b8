from dates import is_leap


def test_ordinary_leap():
    assert is_leap(2024)


def test_not_leap():
    assert not is_leap(2023)


def test_century():
    assert not is_leap(1900)


def test_four_hundred():
    assert is_leap(2000)
