"""Text helpers with no annotations and no examples."""

import io


def slugify(text, sep="-"):
    """The words of ``text``, lower-cased, joined by ``sep``."""
    return sep.join(text.lower().split())


def parse_size(value):
    """A size with an optional unit (``10k``) in bytes."""
    units = {"k": 1024, "m": 1024 ** 2}
    if value[-1:].lower() in units:
        return int(value[:-1]) * units[value[-1].lower()]
    return int(value)


class Counter:
    """A running total."""

    def __init__(self, start):
        self.value = start

    def add(self, n):
        """Add ``n``; the new total."""
        self.value += n
        return self.value

    @property
    def doubled(self):
        """Twice the total."""
        return self.value * 2


def repeat(word, times):
    """``word`` ``times`` times over.

    :param str word: the word
    :param int times: how many times
    :rtype: str
    """
    return word * times


def total(values):
    """The sum of ``values``.

    Args:
        values (list of int): the numbers

    Returns:
        int: their sum
    """
    return sum(values)


_MODE = "plain"


def set_mode(mode):
    """Set the module's mode (global state)."""
    global _MODE
    _MODE = mode


def first_word(text):
    """The first word of ``text``, or None."""
    words = text.split()
    return words[0] if words else None


def boxed(text):
    """``text`` in brackets, written to an in-memory stream."""
    out = io.StringIO()
    out.write("[" + text + "]")
    return out.getvalue()


class Box:
    """A value whose repr describes it (``<Box 'a'>``) rather than spells it."""

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return f"<Box {self.text!r}>"


def wrap(text):
    """``text`` in a Box."""
    return Box(text)


class Tag:
    """A named tag."""

    def __init__(self, name):
        self.name = name


def hashtag(tag):
    """``tag`` as a hashtag."""
    return "#" + tag.name


def checked(name, strict=False):
    """``name``, refused when it is empty.

    :param str name: the name
    """
    if not name:
        raise ValueError("empty name")
    if strict and name != name.strip():
        raise ValueError("spaces around the name")
    return name


def trimmed(name):
    """``name`` without surrounding spaces.

    :param str name: the name
    """
    if name == name.strip():
        return name
    name = name.strip()
    return name


def unpadded(text):
    """``text``, refused when it starts with a space (and, undeclared, when it is empty).

    :param str text: the text
    """
    if text[0] == " ":
        raise ValueError("leading space")
    return text
