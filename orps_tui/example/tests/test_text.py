from text import count_words


def test_one_word():
    assert count_words("hello") == 1


def test_sentence():
    assert count_words("the quick brown fox") == 4


def test_double_spaces():
    assert count_words("two  spaces") == 2


def test_empty():
    assert count_words("") == 0
