"""Small geometry helpers: a sample for the test_generation tests."""

from __future__ import annotations

import math


class GeometryError(ValueError):
    """Raised for shapes that cannot exist."""


def triangle_area(a: float, b: float, c: float) -> float:
    """Area of a triangle from its sides (Heron's formula).

    >>> triangle_area(3, 4, 5)
    6.0
    >>> round(triangle_area(1, 1, 1), 4)
    0.433
    >>> triangle_area(1, 1, 3)
    Traceback (most recent call last):
        ...
    shapes.geometry.GeometryError: sides 1, 1, 3 do not make a triangle
    """
    if a <= 0 or b <= 0 or c <= 0:
        raise ValueError("sides must be positive")
    if a + b <= c or a + c <= b or b + c <= a:
        raise GeometryError(f"sides {a}, {b}, {c} do not make a triangle")
    s = (a + b + c) / 2
    return math.sqrt(s * (s - a) * (s - b) * (s - c))


def clamp(value: int, low: int = 0, high: int = 10) -> int:
    if low > high:
        raise ValueError("low must not exceed high")
    return max(low, min(value, high))


def label(name: str, *, upper: bool = False) -> str:
    if not name:
        raise ValueError("name is empty")
    if len(name) > 20:
        raise TypeError("name is too long")
    return name.upper() if upper else name


class Stack:
    def __init__(self):
        self.items = []

    def push(self, item: int) -> None:
        if item is None:
            raise TypeError("no None")
        self.items.append(item)

    def pop(self) -> int:
        """
        >>> s = Stack()
        >>> s.push(2)
        >>> s.pop()
        2
        """
        if not self.items:
            raise IndexError("empty")
        return self.items.pop()


async def fetch(n: int) -> list:
    if n < 0:
        raise ValueError("n < 0")
    return [n]


def count_up(n: int):
    if n > 1000:
        raise OverflowError("too many")
    yield from range(n)


class Polygon:
    def __init__(self, sides: int):
        self.sides = sides

    def interior_angle(self) -> float:
        return (self.sides - 2) * 180 / self.sides


def scaled(values: list[int], factor: int = 2) -> list:
    """Each value times ``factor``.

    >>> scaled([1, 2])
    [2, 4]
    >>> print(*scaled([3], factor=3))
    9
    """
    def times(v):
        return v * factor

    if factor == 0:
        return []
    if len(values) > 3:
        raise ValueError("at most 3 values")
    return [times(v) for v in values]
