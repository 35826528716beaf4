"""The values a Lisp program can hold, and the one error it can raise.

A program only ever sees these: integers, floats, strings, symbols, cons cells, ``NIL``,
closures and builtins. Python's own objects (bools, None, dicts, modules) never enter Lisp data,
which is what keeps the interpreter a sandbox: there is nothing to take an attribute of.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class LispError(Exception):
    """Any failure of a Lisp program: reading, evaluating, or a limit of the sandbox.

    ``kind`` is ``read``, ``error``, ``fuel``, ``depth`` or ``size``; ``form`` is the printed
    innermost form being evaluated, ``program`` the stored program's name, both filled in as
    the error travels out of the interpreter.
    """

    def __init__(self, message: str, kind: str = "error", form: str | None = None,
                 program: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.form = form
        self.program = program

    def __str__(self) -> str:
        where = f"{self.program}: " if self.program else ""
        form = f" in {self.form}" if self.form else ""
        return f"{where}{self.message}{form}"


class Symbol:
    """An interned name: two symbols with the same name are the same object."""

    __slots__ = ("name",)
    _table: dict[str, Symbol] = {}

    def __init__(self, name: str) -> None:
        self.name = name

    @classmethod
    def of(cls, name: str) -> Symbol:
        """The symbol called ``name`` (only the reader and the interpreter make symbols)."""
        sym = cls._table.get(name)
        if sym is None:
            sym = cls._table[name] = cls(name)
        return sym

    def __repr__(self) -> str:
        return self.name


class Nil:
    """The empty list, which is also false. There is one: ``NIL``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "nil"

    def __iter__(self) -> Iterator[Any]:
        return iter(())


NIL = Nil()
T = Symbol.of("t")


class Cons:
    """A pair; lists are chains of pairs ending in ``NIL``."""

    __slots__ = ("car", "cdr")

    def __init__(self, car: Any, cdr: Any) -> None:
        self.car = car
        self.cdr = cdr

    def __iter__(self) -> Iterator[Any]:
        """The elements of the proper list starting here (stops at an improper tail)."""
        cell: Any = self
        while type(cell) is Cons:
            yield cell.car
            cell = cell.cdr

    def __repr__(self) -> str:
        from .reader import to_string

        return to_string(self)


def from_list(items: list[Any] | tuple[Any, ...], tail: Any = NIL) -> Any:
    """A Lisp list of ``items`` (ending in ``tail``)."""
    out = tail
    for item in reversed(items):
        out = Cons(item, out)
    return out


def truth(value: bool) -> Any:
    """``t`` or ``nil`` for a Python condition."""
    return T if value else NIL


SPECIAL_NAMES = frozenset({
    "quote", "if", "cond", "when", "unless", "and", "or", "let", "let*", "lambda", "define",
    "defun", "progn", "begin", "set!", "setq",
})
"""Names of the special forms; they can be neither defined nor bound."""
