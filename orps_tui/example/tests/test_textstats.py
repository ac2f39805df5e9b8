from textstats import count_vowels, word_count


def test_lower_case():
    assert count_vowels("hello world") == 3


def test_upper_case():
    assert count_vowels("AEIOU") == 5


def test_mixed_case():
    assert count_vowels("Orange Apple") == 5


def test_no_vowels():
    assert count_vowels("rhythm") == 0


def test_empty():
    assert count_vowels("") == 0


def test_word_count():
    assert word_count("a b  c") == 3
