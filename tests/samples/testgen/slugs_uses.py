"""The sample project's own tests (copied as tests/test_text.py): the calls test_generation
pins."""

import pytest
from slugs.text import Counter, Tag, boxed, first_word, hashtag, parse_size, set_mode, slugify, wrap

TITLE = "Hello World"


def test_slugify():
    assert slugify(TITLE) == "hello-world"
    assert slugify("A b", sep="_") == "a_b"


@pytest.mark.parametrize("text, expected", [("10k", 10240), ("3", 3)])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


def test_parse_size_refuses():
    with pytest.raises(ValueError):
        parse_size("abc")


def test_counter():
    counter = Counter(3)
    assert counter.add(2) == 5
    assert Counter(4).doubled == 8


def test_words():
    set_mode("fancy")
    assert first_word("") is None
    assert first_word("a b") == "a"


def test_boxes():
    assert boxed("a") == "[a]"
    assert wrap("a").text == "a"


def test_hashtag():
    assert hashtag(Tag("news")) == "#news"
