"""Text helpers with a bug put in on purpose: a sample for the test_generation tests."""

from __future__ import annotations

import socket
from abc import ABC, abstractmethod
from functools import wraps


def squash_slashes(path: str) -> str:
    """Runs of slashes as one (the bug: three in a row become two, so it is not idempotent)."""
    return path.replace("//", "/")


def encode(text: str) -> bytes:
    return text.encode("utf-8")


def decode(data: bytes) -> str:
    return data.decode("utf-8")


def apply_all(functions, value):
    """Each function applied in turn.

    >>> apply_all([lambda x: x + 1, lambda x: x * 2], 3)
    8
    """
    for function in functions:
        value = function(value)
    return value


def consumer(func):
    """A generator function advanced to its first ``yield``.

    >>> @consumer
    ... def tally():
    ...     i = 0
    ...     while True:
    ...         print('Thing number %s is %s.' % (i, (yield)))
    ...         i += 1
    ...
    >>> t = tally()
    >>> t.send('red')
    Thing number 0 is red.
    """
    @wraps(func)
    def wrapper(*args, **kwargs):
        gen = func(*args, **kwargs)
        next(gen)
        return gen
    return wrapper


def reachable(host: str, port: int = 80) -> bool:
    with socket.create_connection((host, port), timeout=1):
        return True


def lookup(host):
    """The host's address, by a name server.

    >>> lookup("localhost") is not None
    True
    """
    import ipaddress
    resolve = getattr(__import__("socket"), "getaddr" + "info")  # hidden from a reader
    return ipaddress.ip_address(resolve(host, 80)[0][4][0])


def shout(words):
    return words.upper()


class Greeter:
    """Greets by name."""

    def __init__(self, name: str, punctuation: str = "!"):
        if not name:
            raise ValueError("a name is needed")
        self.name = name
        self.punctuation = punctuation

    def greet(self, greeting: str = "Hello") -> str:
        return f"{greeting}, {self.name}{self.punctuation}"

    def greet_many(self, times: int) -> list:
        if times < 0:
            raise ValueError("times < 0")
        return [self.greet()] * times


class Shape(ABC):
    @abstractmethod
    def area(self) -> float:
        ...

    def describe(self) -> str:
        return f"a shape of area {self.area()}"
