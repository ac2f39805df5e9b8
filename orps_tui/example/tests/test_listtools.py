from listtools import smallest, total


def test_smallest_first():
    assert smallest([1, 5, 3]) == 1


def test_smallest_later():
    assert smallest([4, 2, 8]) == 2


def test_single():
    assert smallest([7]) == 7


def test_negative():
    assert smallest([-1, -7, 4]) == -7


def test_total():
    assert total([1, 2, 3]) == 6
